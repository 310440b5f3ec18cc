"""What a text costs the database's indexes (issue 15 item 3 / issue 18, migration 0650).

A text's attempt row is written three times (``started`` at the claim, ``calling`` before the
gateway call, the result after) and its outbox row four. Every one of those writes used to
add an entry to every index of its table, most of them for ``NULL`` provider ids: index
growth and vacuum work an operator sees, and the PostgreSQL CPU that caps the dispatch rate
(docs/benchmarks.md). Counted here with ``pageinspect``: the entries in the index's leaf
pages, each row version pointed at counted once (posting lists included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, text
from tests.outreach.conftest import Loop
from tests.outreach.test_outreach_dispatch import _queue, _states

from careloop.models import OutboxMessage, SendAttempt
from careloop.runtime import Runtime

TEXTS = 40

LEAF_ENTRIES = text(
    """
    SELECT coalesce(sum(coalesce(cardinality(i.tids), 1)), 0)
    FROM generate_series(1, pg_relation_size(CAST(:index AS regclass)) / 8192 - 1) AS b(blkno)
    CROSS JOIN LATERAL bt_page_stats(CAST(:name AS TEXT), b.blkno) AS s
    CROSS JOIN LATERAL bt_page_items(CAST(:name AS TEXT), b.blkno) AS i
    WHERE s.type = 'l' AND NOT (s.btpo_next <> 0 AND i.itemoffset = 1)
    """
)
"""Row versions an index points at: its leaf pages' entries, without each page's high key
(the first item of every leaf but the rightmost)."""


@pytest.fixture
def pageinspect(rt: Runtime) -> Iterator[None]:
    with rt.transaction() as session:
        session.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    yield
    with rt.transaction() as session:
        session.execute(text("DROP EXTENSION IF EXISTS pageinspect"))


def _entries(rt: Runtime, index: str) -> int:
    with rt.transaction() as session:
        return int(session.scalar(LEAF_ENTRIES, {"index": index, "name": index}) or 0)


def _count(rt: Runtime, model: type[object]) -> int:
    with rt.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sent_text_leaves_one_provider_id_entry(
    rt: Runtime, make_loop: Callable[..., Loop], pageinspect: None
) -> None:
    loop = make_loop([], {})
    keys = _queue(rt, TEXTS)
    loop.work()
    assert _states(rt, keys) == ["sent"] * TEXTS
    assert _count(rt, SendAttempt) == TEXTS
    # Only the version that carries the gateway's id. Before 0650: 4 per text (queued,
    # claimed and calling with NULL, sent).
    assert _entries(rt, "ix_outreach_outbox_provider_id") == TEXTS
    assert _count(rt, OutboxMessage) == TEXTS


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_receipts_message_is_found_through_the_provider_id_index_in_a_prepared_plan(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """A delivery receipt (or a reply, or a reconciliation) finds its message by provider
    id through the index that now holds only rows with one, also in the generic plan a
    prepared statement gets after five runs (bound parameters, nothing known of their
    values), not by reading the whole outbox."""
    loop = make_loop([], {})
    _queue(rt, TEXTS)
    loop.work()
    with rt.transaction() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))  # a 40-row table is scanned
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        session.execute(
            text("PREPARE by_sid(varchar) AS SELECT id FROM outreach_outbox WHERE provider_id = $1")
        )
        session.execute(
            text(
                "PREPARE by_sids(varchar[]) AS "
                "SELECT id FROM outreach_outbox WHERE provider_id = ANY($1)"
            )
        )
        one = "\n".join(session.execute(text("EXPLAIN EXECUTE by_sid('SM1')")).scalars())
        many = "\n".join(session.execute(text("EXPLAIN EXECUTE by_sids(ARRAY['SM1'])")).scalars())
        session.execute(text("DEALLOCATE by_sid"))
        session.execute(text("DEALLOCATE by_sids"))  # not ALL: psycopg's own stay
    assert "ix_outreach_outbox_provider_id" in one
    assert "ix_outreach_outbox_provider_id" in many
