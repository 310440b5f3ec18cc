"""personalize domain package."""
