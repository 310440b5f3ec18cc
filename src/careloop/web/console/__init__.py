"""The care-team console: server-rendered pages over the domains' services."""
