"""careloop: hyper-personalized patient engagement, from FHIR data to closed-loop outreach."""

__version__ = "0.1.0"
