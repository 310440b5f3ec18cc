"""Write src/careloop/records/fhir_structure.json from fhir.resources' models.

    python tools/fhir_structure.py          # rewrite the description
    python tools/fhir_structure.py --check  # exit 1 when it and the installed models differ

The import's compiled check (``records.fhir_check``) reads the description instead of
importing the models; ``tests/records/test_fhir_check.py`` runs the check, so an upgrade of
``fhir.resources`` cannot leave it behind.
"""

from __future__ import annotations

import json
import sys

from careloop.records.extract import SUPPORTED_TYPES
from careloop.records.fhir_check import STRUCTURE, describe_structure


def render() -> str:
    return json.dumps(describe_structure(SUPPORTED_TYPES), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not STRUCTURE.exists() or STRUCTURE.read_text() != text:
            sys.stderr.write(f"{STRUCTURE} is out of date: run python tools/fhir_structure.py\n")
            return 1
        return 0
    STRUCTURE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
