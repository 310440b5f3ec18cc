"""A plan change proposed by a person: a nurse (or clinician) proposes, another clinician
approves.

In oncology practice an RN proposes an adjustment (a reminder time, how often check-ins come,
how often the symptom diary is asked for) and a clinician (MD, NP or PA) approves it. The
proposal is a :class:`~careloop.models.PlanAdjustment` like a rule's, carrying who proposed it;
it sits on a worklist task for the clinicians, where the approve and reject buttons are.
Approval stays :func:`careloop.careteam.plans.approve` (which refuses the proposer).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.careteam.alerts import create_task
from careloop.careteam.plans import propose
from careloop.clock import Clock
from careloop.errors import Conflict, InvalidInput, PermissionDenied
from careloop.feedback.ruleset import AdjustmentKind, Proposal, Severity
from careloop.models import PlanAdjustment
from careloop.security.principal import Principal

STAFF_KINDS = (
    AdjustmentKind.REMINDER_PLAN,
    AdjustmentKind.CHECKIN_FREQUENCY,
    AdjustmentKind.SYMPTOM_DIARY,
    AdjustmentKind.FOLLOW_UP_VISIT,
)
"""What a nurse may propose (referrals and rides are the coordinators' own tasks)."""
REVIEW_RULE = "plan-proposal-review"
MAX_REASON = 2000


def propose_change(
    session: Session,
    *,
    patient_id: str,
    kind: str,
    reason: str,
    clock: Clock,
    principal: Principal,
) -> PlanAdjustment:
    """Record a staff proposal and put it on a clinician's worklist task. Raises
    :class:`InvalidInput` naming ``kind`` or ``reason``, :class:`Conflict` when one of the
    same kind is already pending for the patient."""
    if not principal.can("plans:propose"):
        raise PermissionDenied(f"role {principal.role} may not plans:propose")
    if kind not in {str(k) for k in STAFF_KINDS}:
        raise InvalidInput(f"kind must be one of {', '.join(STAFF_KINDS)}", field="kind")
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(f"say why in 1 to {MAX_REASON} characters", field="reason")
    row = propose(
        session,
        patient_id=patient_id,
        rule_id=REVIEW_RULE,
        proposal=Proposal(kind=AdjustmentKind(kind), reason=text),
        item_id=None,
        clock=clock,
        actor=principal.actor,
    )
    if row is None:
        raise Conflict(f"a {kind.replace('_', ' ')} change is already awaiting a decision")
    raised = create_task(
        session,
        patient_id=patient_id,
        rule_id=REVIEW_RULE,
        title="Decide on a proposed plan change",
        summary="A plan change was proposed; a clinician other than the proposer decides.",
        severity=Severity.ROUTINE,
        clock=clock,
        actor=principal.actor,
        values={"adjustment": row.id},
    )
    row.item_id = raised.item_id
    session.flush()
    Auditor(session, clock, principal, Purpose.TREATMENT)(
        AuditAction.CREATE, "plan-adjustment:proposed", [patient_id], detail={"adjustment": row.id}
    )
    return row
