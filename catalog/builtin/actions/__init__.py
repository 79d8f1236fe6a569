"""Built-in action declarations, one module per category."""
