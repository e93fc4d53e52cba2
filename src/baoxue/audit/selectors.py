"""Reads of the audit. Who sees which events (docs/architecture.md, "What the audit records"):

- an admin (superuser or the admin role) sees every event;
- a township office or county inspector sees the events of the people of its area — events
  whose actor, or whose object (a role granted, a failed login, an account switched off), is
  a user holding a role inside the area (a region below the grant, or a school standing in
  it) — and, when the page is narrowed to children it may see, every event about those
  children and their cases, whoever the actor ("who looked at this child");
- nobody else sees any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from baoxue.accounts.actors import signed_in
from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.accounts.scope import scope_for
from baoxue.cases.models import Case
from baoxue.core.models import AuditEvent
from baoxue.registry.models import Child

AUDIT_ROLES = (Role.TOWNSHIP_OFFICE, Role.COUNTY_INSPECTOR)
# A name typed as the object matches at most this many children (a surname matches hundreds).
NAME_MATCH_LIMIT = 20
LOGIN_REFUSALS = ("login.failed", "login.locked_out")


def sees_all_events(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or scope_for(user).has_role(Role.ADMIN)


def can_view_audit(user: Any) -> bool:
    if not signed_in(user):
        return False
    return sees_all_events(user) or scope_for(user).has_role(*AUDIT_ROLES)


def _people_of_area(user: Any) -> QuerySet[RoleAssignment]:
    """The role grants inside the regions where `user` is office or inspector."""
    paths = [
        a.region.path
        for a in RoleAssignment.objects.filter(user=user, role__in=AUDIT_ROLES).select_related(
            "region"
        )
        if a.region is not None
    ]
    inside = Q(pk__in=[])
    for path in paths:
        inside |= Q(region__path__startswith=path) | Q(school__region__path__startswith=path)
    return RoleAssignment.objects.filter(inside)


def events_visible_to(user: Any) -> QuerySet[AuditEvent]:
    if not can_view_audit(user):
        return AuditEvent.objects.none()
    if sees_all_events(user):
        return AuditEvent.objects.all()
    people = _people_of_area(user)
    # object_id is text (a public id or a pk): the users' pks are compared as text.
    people_as_text = people.annotate(as_text=Cast("user_id", CharField())).values("as_text")
    return AuditEvent.objects.filter(
        Q(actor__in=people.values("user_id"))
        | Q(object_type="accounts.user", object_id__in=people_as_text)
    )


def about_children_q(children: list[Child]) -> Q:
    """Events about these children: their page, their number, refusals on them (logged with the
    child in `data`), and the same about each of their cases."""
    ids = [str(c.public_id) for c in children]
    case_ids = [
        str(v) for v in Case.objects.filter(child__in=children).values_list("public_id", flat=True)
    ]
    return Q(object_id__in=ids + case_ids) | Q(data__child__in=ids)


def matching_children(user: Any, text: str) -> list[Child]:
    """The children `user` may see that `text` names: a public id, else a part of a name."""
    visible = Child.objects.visible_to(user)
    try:
        return list(visible.filter(public_id=UUID(text)))
    except ValueError:
        return list(visible.filter(name__contains=text).order_by("name")[:NAME_MATCH_LIMIT])


@dataclass(frozen=True)
class AuditFilters:
    person: str = ""
    action: str = ""
    object: str = ""
    since: date | None = None
    until: date | None = None
    refusals_only: bool = False

    def as_data(self) -> dict[str, Any]:
        """For the export's own audit row."""
        return {
            key: value.isoformat() if isinstance(value, date) else value
            for key, value in self.__dict__.items()
            if value not in ("", None, False)
        }


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def event_search(user: Any, filters: AuditFilters) -> tuple[QuerySet[AuditEvent], list[Child]]:
    """The events `user` may see that match; and the children the object filter named."""
    events = events_visible_to(user)
    children: list[Child] = []
    if filters.object:
        children = matching_children(user, filters.object)
        if children:
            # Every event about a child the viewer may see, whoever the actor.
            events = AuditEvent.objects.filter(about_children_q(children))
        else:
            events = events.filter(Q(object_id=filters.object) | Q(data__child=filters.object))
    if filters.person:
        events = events.filter(
            Q(actor__username=filters.person)
            | Q(actor__display_name__contains=filters.person)
            | Q(data__username=filters.person)
        )
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.refusals_only:
        events = events.filter(
            Q(action__endswith="denied")
            | Q(action__endswith="refused")
            | Q(action__in=LOGIN_REFUSALS)
        )
    if filters.since:
        events = events.filter(at__gte=_day_start(filters.since))
    if filters.until:
        events = events.filter(at__lt=_day_start(filters.until + timedelta(days=1)))
    return events.select_related("actor").order_by("-at", "-id"), children


def user_names(events: list[AuditEvent]) -> dict[str, str]:
    """The accounts named as the object of these events (a role granted, a failed login), for
    the page and the export: one query for a page."""
    ids = {
        int(e.object_id)
        for e in events
        if e.object_type == "accounts.user" and e.object_id.isdigit()
    }
    return {str(u.pk): f"{u} ({u.username})" for u in User.objects.filter(pk__in=ids)}
