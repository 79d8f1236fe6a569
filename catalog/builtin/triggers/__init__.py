"""Built-in trigger declarations, one module per category."""
