"""The outreach tests' SMS loop (scheduler, worker, fake channels) for care-team tests."""

from tests.outreach.conftest import make_loop

__all__ = ["make_loop"]
