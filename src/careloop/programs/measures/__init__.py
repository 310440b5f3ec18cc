"""Clinical quality measures (CMS eCQMs, QI-Core versions) as data, evaluated fast.

The public entry points are in ``service``: ``evaluate_paths``, ``evaluate_database`` and
``find_measure``. See docs/measures.md for the definition language and its design.
"""
