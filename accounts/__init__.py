"""Workspaces (the tenant), members with their roles, and API tokens."""
