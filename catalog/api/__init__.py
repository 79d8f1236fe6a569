"""REST API of the catalog: triggers and actions with their field types, and merchant entities."""
