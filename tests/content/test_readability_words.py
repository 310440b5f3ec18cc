"""The reading grade counts words as textstat does (hyphenated and contracted words once),
without importing textstat (it loads NLTK: seconds on the Content page's first view)."""

from __future__ import annotations

import textstat
from hypothesis import given
from hypothesis import strategies as st

from careloop.content.library import Library
from careloop.content.readability import _lexicon_count

_PIECES = st.sampled_from(
    [
        "don't",
        "it's",
        "we'll",
        "'quoted'",
        "follow-up",
        "—",
        "...",
        "5:00",
        "(555)",
        "a",
        "é",
        "\n",
        " ",
        "?!",
        "'",
        "you've",
        "O'Neil",
        "it's.",
        "rock'n'roll",
        "3-4",
        "$20",
        "José",
    ]
)


@given(st.lists(_PIECES | st.text(max_size=8), max_size=30).map(" ".join))
def test_the_word_count_is_textstats(text: str) -> None:
    assert _lexicon_count(text) == textstat.lexicon_count(text)


def test_every_shipped_wording_counts_as_textstat_counts_it(shipped: Library) -> None:
    texts = [text for variant in shipped.variants.values() for text in variant.parts.values()]
    assert texts
    assert [_lexicon_count(t) for t in texts] == [textstat.lexicon_count(t) for t in texts]
