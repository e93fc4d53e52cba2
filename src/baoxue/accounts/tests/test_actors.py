"""accounts.actors: who does a thing, as every service takes it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils.functional import SimpleLazyObject

from baoxue.accounts.actors import person, required_person, signed_in


def test_a_signed_in_user_is_the_doer_and_nobody_else_is(world, persona):
    office = persona("office")
    lazy = SimpleLazyObject(lambda: office)  # what a request carries
    assert signed_in(office) and signed_in(lazy)
    assert person(office) == office and person(lazy) == office
    assert required_person(lazy) == office
    for nobody in (None, AnonymousUser(), object(), "office"):
        assert not signed_in(nobody)
        assert person(nobody) is None
        with pytest.raises(PermissionDenied, match="请先登录"):
            required_person(nobody)
