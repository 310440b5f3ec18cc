"""Small per-language word tables kept as YAML beside the code (urgent advice, the words of a
check-in conversation): read once, every language must define every entry (a gap is a load
error, never silence), and a patient's language falls back to English by its primary subtag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from careloop.content.vocab import DEFAULT_LANGUAGE
from careloop.errors import InvalidInput


def load_tables(
    directory: Path, *, section: str, text: Callable[[object], str]
) -> dict[str, dict[str, str]]:
    """language → entry → ``text(value)`` from ``directory/<language>.yaml``'s ``section``."""
    label = directory.name
    found: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = document.get(section) if isinstance(document, dict) else None
        if not isinstance(entries, dict):
            raise InvalidInput(f"{path.name}: '{section}' is required", field=label)
        found[str(document["language"])] = {str(k): text(v) for k, v in entries.items()}
    keys = {key for entries in found.values() for key in entries}
    for language, entries in found.items():
        if set(entries) != keys:
            missing = ", ".join(sorted(keys - set(entries)))
            raise InvalidInput(f"{label}/{language}.yaml lacks {missing}", field=label)
    return found


def in_language(tables: dict[str, dict[str, str]], language: str | None) -> dict[str, str]:
    """The table of ``language``'s primary subtag, English when there is none in it."""
    primary = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
    return tables.get(primary) or tables[DEFAULT_LANGUAGE]
