"""Who does a thing. Every service takes its `actor`: a signed-in user (a page's request.user,
the shell's --user), an anonymous visitor (a page before login: refused by the service), or
the system (None: a background task acting for no one, the periodic sweep, a migration).

`person(actor)` is whom to record as the doer (created_by, uploaded_by, an audit row's actor);
`signed_in(who)` tells a user who may be scoped from anyone else; `required_person(actor)`
refuses an action only a person may take when no one is signed in.
"""

from __future__ import annotations

from typing import TypeAlias, TypeGuard

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from baoxue.accounts.models import User

Actor: TypeAlias = User | AnonymousUser | None


def signed_in(who: object) -> TypeGuard[User]:
    """Whether `who` is a signed-in user (a request's lazy user counts as its user)."""
    return isinstance(who, User) and bool(who.is_authenticated)


def person(actor: object) -> User | None:
    """The user to record as the doer of an action; None for the system or an anonymous one."""
    return actor if signed_in(actor) else None


def required_person(actor: object) -> User:
    """The signed-in user doing what only a person may do (an upload, an export, an approval);
    PermissionDenied in words for the system or an anonymous one."""
    if not signed_in(actor):
        raise PermissionDenied(_("请先登录。"))
    return actor
