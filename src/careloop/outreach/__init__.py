"""outreach domain package."""
