"""Loyalty with guardrails: rewards a practice's compliance office has capped, and their ledger."""
