"""What a visit's findings do to the children's cases, through the cases' own services:

- a child found studying elsewhere or moved away, whose case is still 疑似 or 核实中 (a 待核实
  child), gets its dismissal proposed with the visit's evidence — the school and who verified
  it how and when, the visit's photos as proof — for the township office to approve as any other;
- a child with an open case otherwise gets the visit counted as a 劝返 attempt there;
- a child found out of school (at home, working away, married early) with no open case gets one.

Each child's link is its own step after the visit is saved: a visit is never lost because a case
could not be touched (the visitor may not work that case, the case moved meanwhile); the reason
is kept on the child's row for the office to act on. Applying the links again changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person
from baoxue.cases import services as cases
from baoxue.cases import workflow
from baoxue.cases.models import Attachment, Case, ReturnAttempt
from baoxue.core import attachments
from baoxue.visits.models import HomeVisit, VisitChild

NOT_IN_SCHOOL = {VisitChild.Status.AT_HOME, VisitChild.Status.WORKING, VisitChild.Status.MARRIED}
# A finding that takes a 待核实 child off the list, and the dismissal reason it proposes.
LEAVES: dict[str, str] = {
    VisitChild.Status.ELSEWHERE: "enrolled_elsewhere",
    VisitChild.Status.MOVED: "moved_away",
}
UNVERIFIED = {Case.Status.SUSPECTED, Case.Status.VERIFYING}
_TOKENS = uuid.UUID("6c1f3f0e-9a55-4c52-8f0b-1f6f0c0a7e11")


@dataclass(frozen=True)
class Link:
    child: str
    done: bool
    text: str


def apply(visit: HomeVisit, actor: Actor) -> list[Link]:
    """Link each child of the visit to its case; the outcome of each, in words."""
    out: list[Link] = []
    for row in visit.children.select_related("child").order_by("pk"):
        if row.link:  # linked already (the links applied again)
            continue
        try:
            with transaction.atomic():
                case, link, note = _one(visit, row, actor)
        except (ValidationError, PermissionDenied) as exc:
            case, link = None, "refused"
            note = _("未能处理案件：%(why)s") % {
                "why": " ".join(getattr(exc, "messages", None) or [str(exc)])
            }
        if not link:
            continue
        VisitChild.objects.filter(pk=row.pk).update(case=case, link=link, link_note=note[:200])
        out.append(Link(row.child.name, link != "refused", note))
    return out


def _one(visit: HomeVisit, row: VisitChild, actor: Actor) -> tuple[Case | None, str, str]:
    case = Case.objects.open().filter(child=row.child).first()
    if case is not None and row.status in LEAVES and case.status in UNVERIFIED:
        _propose_dismissal(visit, row, case, actor)
        return (
            case,
            "proposed",
            _("已提交排除审核（%(why)s），待乡镇办公室审核")
            % {"why": workflow.DISMISS_REASONS[LEAVES[row.status]]},
        )
    if case is not None:
        _attempt(visit, row, case, actor)
        return case, "attempt", _("已记为案件的一次劝返")
    if row.status in NOT_IN_SCHOOL:
        where = f"（{row.where}）" if row.where else ""
        note = _("家访发现：%(status)s%(where)s") % {
            "status": row.get_status_display(),
            "where": where,
        }
        opened = cases.case_open(actor=actor, child=row.child, note=note)
        return opened, "opened", _("已立案（一人一案）")
    return None, "", ""


def _propose_dismissal(visit: HomeVisit, row: VisitChild, case: Case, actor: Actor) -> None:
    """Submit the case for the office's review with the visit's evidence."""
    how = "phone" if visit.method == HomeVisit.Method.PHONE else "visit"
    proofs = [str(a.public_id) for a in _proofs(visit, case, actor)]
    evidence = {
        "school": row.where,
        "verified_by": visit.visitors,
        "verified_how": how,
        "verified_on": visit.visited_on.isoformat(),
        "hukou_record": row.where,
    }
    workflow.transition(
        actor=actor,
        case=case,
        to=Case.Status.PENDING_REVIEW,
        version=case.version,
        data={
            "proposal": Case.Status.DISMISSED,
            "reason": LEAVES[row.status],
            "evidence": evidence,
            "attachments": proofs,
            "note": _("家访核实（%(day)s）") % {"day": visit.visited_on.isoformat()},
        },
    )


def _proofs(visit: HomeVisit, case: Case, actor: Actor) -> list[Attachment]:
    """The visit's photos (a 就读证明, a 户籍 page photographed on the spot) as the case's
    proof attachments."""
    made = []
    for photo in visit.photos.filter(is_signature=False).order_by("pk"):
        try:
            with photo.file.open("rb") as handle:
                data = handle.read()
        except OSError:
            continue  # lost from storage: the evidence check says what is missing
        item = Attachment(case=case, purpose="proof")
        upload: Any = ContentFile(data, name=photo.name)
        made.append(attachments.store(item, upload, photo.content_type, by=person(actor)))
    return made


def _attempt(visit: HomeVisit, row: VisitChild, case: Case, actor: Actor) -> None:
    """The visit as a 劝返 attempt on the child's open case (once, however often applied)."""
    if row.status == VisitChild.Status.IN_SCHOOL:
        result = ReturnAttempt.Result.RETURNED
    elif not row.seen and visit.method == HomeVisit.Method.HOME:
        result = ReturnAttempt.Result.NOT_REACHED
    else:
        result = ReturnAttempt.Result.CONSIDERING
    said = "；".join(
        p for p in (row.get_status_display() if row.status else "", row.where, visit.problems) if p
    )
    cases.attempt_record(
        actor=actor,
        case=case,
        data={
            "token": str(uuid.uuid5(_TOKENS, f"{visit.public_id}:{row.child_id}")),
            "attempted_on": visit.visited_on.isoformat(),
            "method": ReturnAttempt.Method.PHONE
            if visit.method == HomeVisit.Method.PHONE
            else ReturnAttempt.Method.HOME_VISIT,
            "people": visit.visitors,
            "met": visit.people_met[:100],
            "said": said,
            "offered": visit.help_given,
            "result": result,
            "next_date": visit.follow_up_by.isoformat() if visit.follow_up_by else "",
        },
    )
