"""feedback domain package."""
