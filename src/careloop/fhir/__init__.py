"""careloop as a FHIR R4 server: search, read, capability, write-back and Bulk Data export.

No HTTP here (the router is ``careloop.web.api.fhir``): these services turn careloop's record
and what it learned into FHIR resources, and FHIR search parameters into queries.
"""
