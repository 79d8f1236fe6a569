"""Example plug-in: a loyalty-points trigger and action, registered like the built-ins."""
