"""Fuzzing: schemathesis over the OpenAPI schema, hypothesis over the webhook endpoint."""
