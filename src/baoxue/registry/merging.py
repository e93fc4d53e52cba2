"""Two places that are one (合并村、屯或学校): a village created from a typo (乌玲村 for 乌岭村),
two 屯 spelt two ways, a school made from its 学校标识码 before it was known under its name.

Everything that points at the place merged away points at the one kept: children, households,
schools, role grants, cases, 比对 results, lists received — every foreign key to the model,
found from the model, so a table added later moves too. A village's 屯 move under the kept
village (a 屯 of the same name is merged into it). The merge is one transaction and audited
with what moved; the merged place is then deleted. Rows that would become identical to one the
kept place already has (the same person's same role there) are the same grant twice: the
merged one's is removed, and counted. A merge that would make two households of one village
share a 户号 is refused: a person decides which is which first.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor
from baoxue.accounts.models import RoleAssignment
from baoxue.accounts.permissions import can_undo_merge
from baoxue.accounts.scope import scope_for
from baoxue.core.services import log_action
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import Household, Region, School, VillageCount

# Caches rebuilt from the registry: the merged place's rows are dropped, the counts marked stale.
_CACHES = frozenset({VillageCount})


def _references(
    model: type[models.Model],
) -> list[tuple[type[models.Model], models.Field[Any, Any]]]:
    """(model, field) of every foreign key to `model`, hidden ones (related_name '+') too."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if (
            rel.is_relation
            and rel.auto_created
            and not rel.concrete
            and (rel.one_to_many or rel.one_to_one)
        ):
            found.append((cast("type[models.Model]", rel.related_model), rel.field))  # type: ignore[union-attr]
    return found


def _may_merge(actor: Actor, *townships: Region | None) -> None:
    """The township office of every township the merge touches (both schools' townships)."""
    if actor is None:
        return  # the shell
    regions = scope_for(actor).regions
    if not can_undo_merge(actor) or not all(
        t is not None and any(t.path.startswith(g.path) for g in regions) for t in townships
    ):
        raise PermissionDenied(_("只有乡镇控辍保学办公室可以合并村、屯或学校。"))


def _duplicate_grants(field: str, source: Any, target: Any) -> int:
    """Role grants the kept place already has for the same person: removed from the merged."""
    other = "school_id" if field == "region" else "region_id"
    kept = set(
        RoleAssignment.objects.filter(**{field: target}).values_list(
            "user_id",
            "role",
            "grade",
            "class_name",
            other,
        )
    )
    twice = [
        pk
        for pk, *key in RoleAssignment.objects.filter(**{field: source}).values_list(
            "pk",
            "user_id",
            "role",
            "grade",
            "class_name",
            other,
        )
        if tuple(key) in kept
    ]
    RoleAssignment.objects.filter(pk__in=twice).delete()
    return len(twice)


def _move(model: type[models.Model], source: models.Model, target: models.Model) -> dict[str, int]:
    """Point every reference to `source` at `target`; what moved, by table and column."""
    moved: dict[str, int] = {}
    for related, field in _references(model):
        if related is model and field.name == "parent":
            continue  # a village's 屯: moved by region_merge
        rows = related._base_manager.filter(**{field.attname: source.pk})
        if related in _CACHES:
            rows.delete()
            continue
        count = rows.update(**{field.attname: target.pk})
        if count:
            moved[f"{related._meta.label_lower}.{field.name}"] = count
    return moved


def region_merge(*, source: Region, target: Region, actor: Actor) -> dict[str, int]:
    """Merge a village into another village of the same township, or a 屯 into another 屯 of
    the same village. Returns what moved (and how many duplicate grants were removed)."""
    if source.pk == target.pk:
        raise ValidationError(_("不能把一个地方合并到它自己。"))
    if source.level != target.level or source.level not in {"village", "group"}:
        raise ValidationError(_("只能把村合并到村、把屯合并到屯。"))
    if source.parent_id != target.parent_id:
        raise ValidationError(
            _("只能合并同一乡镇的两个村，或同一村的两个屯。")
            if source.level == "village"
            else _("只能合并同一个村的两个屯。")
        )
    township = source.parent if source.level == "village" else source.parent.parent  # type: ignore[union-attr]
    _may_merge(actor, township)
    with transaction.atomic():
        source = Region.objects.select_for_update().get(pk=source.pk)
        target = Region.objects.select_for_update().get(pk=target.pk)
        numbers = set(
            Household.objects.filter(village=target)
            .exclude(number="")
            .values_list("number", flat=True)
        )
        clash = sorted(
            n
            for n in Household.objects.filter(village=source)
            .exclude(number="")
            .values_list("number", flat=True)
            if n in numbers
        )
        if clash:
            raise ValidationError(
                _("两个村有户号相同的户（%(numbers)s），请先核对这些户，再合并。")
                % {"numbers": "、".join(clash[:10])}
            )
        name = source.name
        moved = _fold(source, target)
        county = _county_of(target)
        counts_mark_stale(county_ids={county} if county is not None else set())
        log_action(
            actor=actor,
            action="region.merged",
            obj=target,
            data={"merged": name, "into": target.name, "level": target.level, "moved": moved},
        )
    return moved


def _fold(source: Region, target: Region) -> dict[str, int]:
    """Move everything of `source` to `target` and delete it (checked by the caller). Its
    屯 move under the target; one of a name the target has is folded into that one."""
    moved: dict[str, int] = {}
    for group in list(Region.objects.filter(parent=source)):
        same = Region.objects.filter(parent=target, name=group.name).first()
        if same is not None:
            for key, n in _fold(group, same).items():
                moved[key] = moved.get(key, 0) + n
        else:
            group.parent = target
            group.path = f"{target.path}{group.pk}/"
            group.save(update_fields=["parent", "path"])
            moved["registry.region.parent"] = moved.get("registry.region.parent", 0) + 1
    dropped = _duplicate_grants("region", source, target)
    for key, n in _move(Region, source, target).items():
        moved[key] = moved.get(key, 0) + n
    if dropped:
        key = "accounts.roleassignment.duplicate_removed"
        moved[key] = moved.get(key, 0) + dropped
    source.delete()
    return moved


def _county_of(region: Region) -> int | None:
    node: Region | None = region
    while node is not None and node.level != "county":
        node = node.parent
    return node.pk if node is not None else None


def school_merge(*, source: School, target: School, actor: Actor) -> dict[str, int]:
    """Merge a school into another of the same county (the one made from a code, and the
    school it is): its 学籍, attendance, subsidies, cases, grants and lists move."""
    if source.pk == target.pk:
        raise ValidationError(_("不能把一个地方合并到它自己。"))
    if source.county_id != target.county_id:
        raise ValidationError(_("只能合并同一个县的两所学校。"))
    _may_merge(actor, source.township, target.township)
    with transaction.atomic():
        source = School.objects.select_for_update().get(pk=source.pk)
        dropped = _duplicate_grants("school", source, target)
        moved = _move(School, source, target)
        if dropped:
            moved["accounts.roleassignment.duplicate_removed"] = dropped
        if not target.code and source.code:
            code = source.code
            name = source.name
            source.delete()
            target.code = code
            target.save(update_fields=["code"])
        else:
            name = source.name
            source.delete()
        counts_mark_stale(county_ids={target.county_id})
        log_action(
            actor=actor,
            action="school.merged",
            obj=target,
            data={"merged": name, "into": target.name, "moved": moved},
        )
    return moved
