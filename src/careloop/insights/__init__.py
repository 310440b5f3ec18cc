"""insights domain package."""
