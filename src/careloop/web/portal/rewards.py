"""The portal's rewards page: what the patient earned, and whether it was handed over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from careloop.loyalty.ledger import RewardState, rewards_of
from careloop.web.portal.i18n import has_text, translator
from careloop.web.portal.page import PortalPage, portal_page

router = APIRouter(include_in_schema=False)

RewardsPage = Annotated[
    PortalPage, Depends(portal_page("patients:read", audit_as="portal-rewards"))
]


def _label(language: str, reward: str) -> str:
    """The reward's name in the patient's language; a site's own reward shows its id."""
    key = "reward_" + reward.replace("-", "_")
    return translator(language)(key) if has_text(language, key) else reward


@router.get("/portal/rewards", response_class=HTMLResponse)
def rewards_page(page: RewardsPage) -> HTMLResponse:
    entries = rewards_of(page.session, patient_id=page.patient_id)
    rows = [
        {
            "label": _label(page.language, e.reward),
            "dollars": f"${e.value_cents / 100:.2f}",
            "state": e.state,
            "day": e.earned_at.date().isoformat(),
        }
        for e in entries
    ]
    total = sum(e.value_cents for e in entries if e.state != RewardState.CANCELLED)
    return page.show("portal/rewards.html", "rewards", rows=rows, total=f"${total / 100:.2f}")
