"""One record per child (合并): two registry records the 比对 links for certain (the same
number, a repaired number, a unique name match, two valid numbers one typo apart) or that a
person confirmed in the review queue become one child.

The record from the 学籍 side is merged into the 户籍 one: everything that points at it —
its enrollments, guardians, attendance, subsidies, discrepancies, cases — points at the kept
record, which also takes what it lacked (a household, the disability, the flags, an ID
number). The merged record stays in the table, marked (Child.merged_into), invisible to
every list and count (Child.objects), so the office can undo the merge: the rows go back,
the kept record's columns are as they were, and the pair is remembered as two children so
that no later run merges them again. Rows imported since the merge stay with the kept child.

Every table that points at a child is found from the model (Child._meta.related_objects),
so a table added later is moved too; a row that would break a uniqueness rule on the kept
child (the same subsidy term twice, the same discrepancy twice) stays with the merged record.
Two open cases become one: the merged record's is dismissed as a data error, its history kept
(and reopened by an undo).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person
from baoxue.accounts.permissions import can_undo_merge
from baoxue.cases.models import Case, CaseEvent
from baoxue.core import crypto
from baoxue.core.bulk import filter_in, update_rows
from baoxue.core.services import log_action
from baoxue.reconcile import engine
from baoxue.reconcile.models import MatchReview
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import Child, ChildMerge
from baoxue.registry.services import ID_FIELDS, refresh_school_status_bulk

# The links that merge: certain by the engine's rules, or decided by a person.
MERGED_BY = frozenset({engine.ID, engine.ID_REPAIR, engine.NAME, engine.ID_TYPO, engine.DECIDED})
# History that stays with the record it is about.
_STAYS = frozenset(
    {"reconcile.runchild", "reconcile.matchreview", "registry.childmerge", "registry.child"}
)
# What the kept record takes from the merged one when it has none itself.
_FILLED = ("household_id", "sex", "ethnicity", "birth_date", "group_id", "address")
_FLAGS = ("has_disability", "is_orphan", "is_migrant")
_DISABILITY = ("disability_card_enc", "disability_category", "disability_grade")
CHUNK = 5000


def _relations() -> list[tuple[type[models.Model], str, list[tuple[str, ...]]]]:
    """(model, foreign key column, the other columns of each uniqueness rule that includes
    it) of every table whose rows a merge moves."""
    found: list[tuple[type[models.Model], str, list[tuple[str, ...]]]] = []
    for rel in Child._meta.related_objects:
        model = cast("type[models.Model]", rel.related_model)
        if not rel.one_to_many or model._meta.label_lower in _STAYS:
            continue
        field = rel.field
        unique = [
            tuple(
                cast("models.Field[Any, Any]", model._meta.get_field(name)).attname
                for name in constraint.fields
                if name != field.name
            )
            for constraint in model._meta.constraints
            if isinstance(constraint, models.UniqueConstraint)
            and field.name in constraint.fields
            and constraint.condition is None
        ]
        found.append((model, field.attname, unique))
    return found


def merges_apply(links: Iterable[engine.Link], *, run_id: int | None) -> int:
    """Merge the 学籍-side record of each certain or decided link into its roster record
    (inside the run's transaction). Returns how many records were merged."""
    pairs: dict[int, tuple[int, str, float]] = {}
    for link in links:
        if link.left != link.right and link.method in MERGED_BY:
            pairs.setdefault(link.right, (link.left, link.method, link.score))
    # A record that is itself kept by another pair is not folded (never a chain).
    keeping = {k for k, _m, _s in pairs.values()}
    pairs = {m: p for m, p in pairs.items() if m not in keeping}
    if not pairs:
        return 0
    ids = sorted(set(pairs) | {k for k, _m, _s in pairs.values()})
    children = {c.pk: c for c in filter_in(Child.records.all(), "id", ids, CHUNK, fields=())}
    pairs = {m: p for m, p in pairs.items() if m in children and p[0] in children}
    kept_of = {m: p[0] for m, p in pairs.items()}
    moved: dict[int, dict[str, list[int]]] = defaultdict(dict)
    dismissed = _one_open_case(kept_of, run_id)
    for model, column, unique in _relations():
        label = model._meta.label_lower
        rows = list(
            filter_in(
                model._default_manager.all(),
                column,
                sorted(kept_of),
                CHUNK,
                fields=(column, *{c for u in unique for c in u}),
            )
        )
        if not rows:
            continue
        taken = _keys_held(model, column, unique, set(kept_of.values()))
        updates = []
        for row in rows:
            kept = kept_of[getattr(row, column)]
            keys = [(kept, *(getattr(row, c) for c in u)) for u in unique]
            if any(key in taken for key in keys):
                continue  # the kept child has it already: it stays with the merged record
            taken.update(keys)
            updates.append((row.pk, kept))
            moved[getattr(row, column)].setdefault(label, []).append(row.pk)
        if updates:
            update_rows(model, [model._meta.get_field(column).name], updates)
    before = _fill_kept(children, kept_of)
    now = timezone.now()
    update_rows(Child, ["merged_into", "updated_at"], [(m, k, now) for m, k in kept_of.items()])
    ChildMerge.objects.bulk_create(
        [
            ChildMerge(
                kept_id=kept,
                merged_id=merged,
                method=pairs[merged][1],
                score=pairs[merged][2],
                run_id=run_id,
                moved={**moved.get(merged, {}), "cases.dismissed": dismissed.get(merged, [])},
                kept_before=before.get(merged, {}),
            )
            for merged, kept in kept_of.items()
        ],
        batch_size=1000,
    )
    refresh_school_status_bulk(child_ids=set(kept_of.values()))
    counts_mark_stale(county_ids={c.county_id for c in children.values()})
    return len(kept_of)


def _keys_held(
    model: type[models.Model], column: str, unique: list[tuple[str, ...]], kept: set[int]
) -> set[tuple[Any, ...]]:
    """The values of the uniqueness rules that the kept children's own rows hold."""
    if not unique:
        return set()
    held: set[tuple[Any, ...]] = set()
    names = sorted({c for u in unique for c in u})
    for row in filter_in(
        model._default_manager.all(),
        column,
        sorted(kept),
        CHUNK,
        fields=(column, *names),
    ):
        for u in unique:
            held.add((getattr(row, column), *(getattr(row, c) for c in u)))
    return held


def _one_open_case(kept_of: dict[int, int], run_id: int | None) -> dict[int, list[list[Any]]]:
    """A merged record's open case, where the kept child has one too, is dismissed as a data
    error (its history kept, and written in both); [case id, status, reason] for the undo."""
    cases = Case.objects.open().order_by().values_list("child_id", "pk")
    merged_open = dict(filter_in(cases, "child_id", sorted(kept_of), CHUNK))
    if not merged_open:
        return {}
    kept_open = dict(filter_in(cases, "child_id", sorted({kept_of[m] for m in merged_open})))
    dismissed: dict[int, list[list[Any]]] = {}
    events = []
    for merged, case_id in merged_open.items():
        other = kept_open.get(kept_of[merged])
        if other is None:
            continue  # the case moves with the record, open
        case = Case.objects.get(pk=case_id)
        dismissed[merged] = [[case.pk, case.status, case.dismiss_reason]]
        events.append(
            CaseEvent(
                case=case,
                kind="merged",
                from_status=case.status,
                to_status=Case.Status.DISMISSED,
                data={"into_case": other, "run": run_id},
            )
        )
        events.append(CaseEvent(case_id=other, kind="merged_in", data={"case": case.pk}))
        Case.objects.filter(pk=case.pk).update(
            status=Case.Status.DISMISSED,
            dismiss_reason="data_error",
            closed_at=timezone.now(),
            # The evidence a dismissal needs (cases.evidence): the duplicate and where it went.
            exit_evidence={
                "reason": "data_error",
                "wrong_record": _("同一个孩子的重复记录"),
                "correction": _("已与保留的记录合并，在那条记录的案件中继续办理"),
            },
        )
    CaseEvent.objects.bulk_create(events)
    return dismissed


def _fill_kept(children: dict[int, Child], kept_of: dict[int, int]) -> dict[int, dict[str, Any]]:
    """The kept records take what they lack from the merged ones; each one's columns as they
    were, by merged record, for the undo."""
    before: dict[int, dict[str, Any]] = {}
    changed: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for merged_id, kept_id in kept_of.items():
        merged, kept = children[merged_id], children[kept_id]
        was: dict[str, Any] = {}
        for column in _FILLED:
            if not getattr(kept, column) and getattr(merged, column):
                was[column] = getattr(kept, column)
                setattr(kept, column, getattr(merged, column))
        for column in _FLAGS:
            if getattr(merged, column) and not getattr(kept, column):
                was[column] = False
                setattr(kept, column, True)
        if merged.has_disability and not kept.disability_category:
            for column in _DISABILITY:
                was[column] = getattr(kept, column)
                setattr(kept, column, getattr(merged, column))
        if merged.left_behind != "none" and kept.left_behind == "none":
            was["left_behind"] = kept.left_behind
            kept.left_behind = merged.left_behind
        if merged.id_number_hash and not kept.id_number_hash:
            # The number moves (one child holds it); the merged record keeps it encrypted.
            for column in ID_FIELDS:
                was[column] = getattr(kept, column)
                setattr(kept, column, getattr(merged, column))
            changed["_merged_hash"].append((merged.pk, ""))
        if was:
            before[merged_id] = {k: v.isoformat() if hasattr(v, "isoformat") else v
                                 for k, v in was.items()}  # fmt: skip
            for column in was:
                changed[column].append((kept.pk, getattr(kept, column)))
    for column, rows in changed.items():
        if column == "_merged_hash":
            update_rows(Child, ["id_number_hash"], rows)
        else:
            field = Child._meta.get_field(column.removesuffix("_id"))
            update_rows(Child, [field.name], rows)
    return before


def merge_undo(*, merge: ChildMerge, actor: Actor) -> ChildMerge:
    """Undo a merge (the township office): the moved rows go back to the merged record, the
    kept record's columns are as they were, the merged record is a child of its own again,
    and the pair is remembered as two children (the review queue's "不是同一人")."""
    if actor is not None and not (
        can_undo_merge(actor) and Child.objects.visible_to(actor).filter(pk=merge.kept_id).exists()
    ):
        raise PermissionDenied(_("只有乡镇控辍保学办公室可以撤销合并。"))
    with transaction.atomic():
        merge = ChildMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.status != ChildMerge.Status.DONE:
            raise ValidationError(_("这次合并已经撤销过了。"))
        by_label = {m._meta.label_lower: (m, c) for m, c, _u in _relations()}
        for label, ids in merge.moved.items():
            if label in by_label:
                model, column = by_label[label]
                model._default_manager.filter(pk__in=ids, **{column: merge.kept_id}).update(
                    **{column: merge.merged_id}
                )
        for case_id, status, reason in merge.moved.get("cases.dismissed", []):
            Case.objects.filter(pk=case_id).update(
                status=status, dismiss_reason=reason, closed_at=None, exit_evidence={}
            )
            CaseEvent.objects.create(
                case_id=case_id,
                actor=person(actor),
                kind="merge_undone",
                from_status=Case.Status.DISMISSED,
                to_status=status,
            )
        kept = Child.records.get(pk=merge.kept_id)
        restored = []
        for column, value in merge.kept_before.items():
            field = cast(
                "models.Field[Any, Any]", Child._meta.get_field(column.removesuffix("_id"))
            )
            setattr(kept, column, field.to_python(value) if value is not None else None)
            restored.append(field.name)
        if restored:
            kept.version += 1
            kept.save(update_fields=[*restored, "version", "updated_at"])
        merged = Child.records.get(pk=merge.merged_id)
        fields = ["merged_into", "version", "updated_at"]
        if "id_number_hash" in merge.kept_before:
            merged.id_number_hash = _hash_of(merged)  # the number goes back with its record
            fields.append("id_number_hash")
        merged.merged_into = None
        merged.version += 1
        merged.save(update_fields=fields)
        merge.status = ChildMerge.Status.UNDONE
        merge.undone_at = timezone.now()
        merge.undone_by = person(actor)
        merge.save()
        MatchReview.objects.update_or_create(
            left_id=merge.kept_id,
            right_id=merge.merged_id,
            defaults={
                "method": merge.method,
                "score": merge.score or 0,
                "status": MatchReview.Status.REJECTED,
                "decided_by": merge.undone_by,
                "decided_at": merge.undone_at,
            },
        )
        refresh_school_status_bulk(child_ids={merge.kept_id, merge.merged_id})
        counts_mark_stale(county_ids={kept.county_id})
        log_action(
            actor=actor,
            action="child.merge_undone",
            obj=kept,
            data={"merged": str(merged.public_id), "method": merge.method},
        )
    return merge


def _hash_of(child: Child) -> str:
    """The lookup hash of a record's own valid number ('' for none)."""
    if child.id_status not in {Child.IdStatus.VALID, Child.IdStatus.UPGRADED}:
        return ""
    number = crypto.decrypt(child.id_number_enc)
    return crypto.lookup_hash(number) if number else ""
