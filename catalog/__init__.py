"""The typed vocabulary: field types, trigger and action declarations, the merchant domain."""
