"""web domain package."""
