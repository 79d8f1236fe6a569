"""Management commands of automations."""
