"""careteam domain package."""
