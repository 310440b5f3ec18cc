"""Forms sent to the patient's phone, completed and signed there (issue 25, item 6)."""
