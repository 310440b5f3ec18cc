"""governance domain package."""
