"""channels domain package."""
