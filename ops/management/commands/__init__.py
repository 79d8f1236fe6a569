"""manage.py commands: load_demo, ping_worker."""
