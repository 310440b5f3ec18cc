"""Invitations to review the practice on a public review site, after a visit (issue 25)."""
