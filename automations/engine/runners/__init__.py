"""Action runners, one module per action family; referenced by dotted path from the catalog."""
