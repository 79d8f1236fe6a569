"""manage.py commands: recheck_rules."""
