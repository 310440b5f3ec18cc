"""Segments: named, dynamic groups of patients defined over the record and the event log.

Definitions are the YAML files in this folder (vocabulary in ``rules.py`` and
docs/programs.md); membership is computed on demand for a batch of patients, so it is always
current. Used by the API and CLI, as a program filter (``segment:``) and as a reporting
dimension (``service.segment_membership``).
"""
