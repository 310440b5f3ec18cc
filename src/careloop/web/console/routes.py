"""The care-team console: one router gathering its pages (included by ``web.app``)."""

from __future__ import annotations

from fastapi import APIRouter

from careloop.web.console import (
    callqueue,
    content,
    fhir_deliveries,
    forms,
    invite,
    jobs,
    messages,
    patient,
    programs,
    proposals,
    signin,
    tools,
    worklist,
)

router = APIRouter(include_in_schema=False)
_PAGES = (signin, worklist, callqueue, patient, messages, invite, programs, content, jobs, tools)
for _module in _PAGES:
    router.include_router(_module.router)
for _module in (fhir_deliveries, forms, proposals):
    router.include_router(_module.router)
