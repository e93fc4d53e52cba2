"""What the apps above the registry add to its pages — the front page and a child's page — and
who else may open a child's page. Each app declares its part in its AppConfig.ready() (the
cases: the open cases by place and a child's case files; the reconciliation: the latest 比对 of
each area and its word on the child), so that the registry knows none of them; a later app
(home visits, programmes) adds its own the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (user, counts) -> context for the front page; may add to `counts` (registry.selectors).
HomePart = Callable[[Any, Any], dict[str, Any]]
# (user, child) -> context for the child's page.
ChildPart = Callable[[Any, Any], dict[str, Any]]
# (user, child id) -> whether the user may open the page of a child outside their scope
# (e.g. named on its open case); such a view is logged as child.viewed_as_named.
ChildGrant = Callable[[Any, int], bool]

_home: list[HomePart] = []
_child: list[ChildPart] = []
_grants: list[ChildGrant] = []


def add_home_part(part: HomePart) -> None:
    if part not in _home:
        _home.append(part)


def add_child_part(part: ChildPart) -> None:
    if part not in _child:
        _child.append(part)


def add_child_grant(grant: ChildGrant) -> None:
    if grant not in _grants:
        _grants.append(grant)


def home_context(user: Any, counts: Any) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for part in _home:
        context |= part(user, counts)
    return context


def child_context(user: Any, child: Any) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for part in _child:
        context |= part(user, child)
    return context


def child_granted(user: Any, child_id: int) -> bool:
    return any(grant(user, child_id) for grant in _grants)
