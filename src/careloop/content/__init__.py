"""content domain package."""
