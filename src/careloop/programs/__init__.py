"""programs domain package."""
