"""Helpers shared by the content tests."""

from __future__ import annotations

from careloop.content.library import Library


def subset(library: Library, *, keep: set[str]) -> Library:
    """A copy of ``library`` with only the named messages (for small, fast DB tests)."""
    return Library(
        messages={k: v for k, v in library.messages.items() if k in keep},
        variants={k: v for k, v in library.variants.items() if k.message in keep},
        samples=library.samples,
        by_language={lang: names & keep for lang, names in library.by_language.items()},
        source_approval={
            k: v for k, v in library.source_approval.items() if k.split("/")[0] in keep
        },
    )
