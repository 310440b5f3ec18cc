"""KPI building blocks: pure functions over FHIR resource dicts, for reports and the API."""
