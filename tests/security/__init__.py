"""Security tests: signatures, isolation, roles, secrets, XSS/CSRF, template injection."""
