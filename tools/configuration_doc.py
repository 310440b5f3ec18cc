"""Write docs/configuration.md from the settings models.

    python tools/configuration_doc.py          # rewrite the reference
    python tools/configuration_doc.py --check  # exit 1 when the doc and the models differ

``tests/ops/test_configuration.py`` runs the check, so the reference cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from careloop.compose.configuration import render_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def main(argv: list[str]) -> int:
    text = render_reference()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            sys.stderr.write(f"{DOC} is out of date: run python tools/configuration_doc.py\n")
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
