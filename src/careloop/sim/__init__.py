"""sim domain package."""
