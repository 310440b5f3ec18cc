"""records domain package."""
