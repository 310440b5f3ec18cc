"""Floor: reading FHIR R4 values from plain resource dicts (dates, references, codings).

Resources travel as JSON dicts (bundles, NDJSON, the record store); every domain reads the same
few fields, so the rules for a partial date, a ``urn:uuid:`` reference or a bare Coding live
here once. Nothing of careloop is imported.
"""
