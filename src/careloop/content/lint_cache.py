"""The lint of stored versions, kept per content version for the console's library page.

A stored version never changes its words (a new wording is a new version), so its report
depends only on the version (id, state, content hash), its message's declaration and the
sample fields. The page used to load the whole shipped library (every YAML file, 0.4 s) and
lint every version on every view; now it lints a version once per process and renders it
with the samples file alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from careloop.content.library import LIBRARY_DIR, Library, Message, read_samples
from careloop.content.lint import VariantReport, lint_variant
from careloop.content.service import list_messages, list_versions, variant_of
from careloop.models import ContentVersion

MAX_REPORTS = 20_000
"""Reports kept (a few hundred bytes each): the shipped library has a few thousand versions."""

_reports: OrderedDict[tuple[object, ...], VariantReport] = OrderedDict()


@cache
def shipped_samples() -> dict[str, Any]:
    """The sample fields shipped with this release (``_samples.yaml``), read once."""
    return read_samples(LIBRARY_DIR)


def version_reports(message: Message, rows: Sequence[ContentVersion]) -> list[VariantReport]:
    """The lint report of each stored version of ``message``, in the order given."""
    library = Library(messages={message.name: message}, samples=shipped_samples())
    declared = repr(message)
    reports = []
    for row in rows:
        key = (row.id, row.state, row.content_hash, declared)
        report = _reports.get(key)
        if report is None:
            report = lint_variant(library, variant_of(row))
            _reports[key] = report
            if len(_reports) > MAX_REPORTS:
                _reports.popitem(last=False)
        else:
            _reports.move_to_end(key)
        reports.append(report)
    return reports


def warm_reports(session: Session) -> int:
    """Lint the versions of the library page's first message (the one it opens on), so the
    one-time loading the grade needs (syllable table, hyphenation, locale data: ~0.2 s) is
    paid when the server starts, not by the first nurse who opens the page. Returns how many
    versions were linted."""
    messages = list_messages(session)
    if not messages:
        return 0
    rows = list_versions(session, message=messages[0].name)
    return len(version_reports(messages[0], rows))
