"""Built-in catalog entries: the triggers of SPEC 4 and the actions of SPEC 5."""
