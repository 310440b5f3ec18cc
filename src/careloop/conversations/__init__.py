"""Conversations with patients: the workflow above outreach, feedback and the care team that
routes each inbound reply and carries out what a scheduler tick hands off."""
