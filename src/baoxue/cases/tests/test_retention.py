"""Children aged out of compulsory education long enough ago are archived by the sweep (issue 22
§4): their identifying data is wiped, their cases and counts stay, and it is audited."""

from __future__ import annotations

from datetime import date

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from baoxue.cases import retention
from baoxue.cases import services as case_services
from baoxue.cases.models import Attachment, Case
from baoxue.core.models import AuditEvent
from baoxue.registry import services as registry_services
from baoxue.registry.models import Child, Guardian
from baoxue.registry.tests.factories import make_id_number

TODAY = date(2026, 12, 7)  # cut-off 2026-08-31: compulsory ages born 2010-09-01 … 2020-08-31


def _child(world, name: str, born: date) -> Child:
    child = registry_services.child_create(
        actor=None,
        name=name,
        village=world.village_a,
        birth_date=born,
        sex="M",
        id_number=make_id_number(born, "M"),
    )
    registry_services.guardian_add(
        actor=None, child=child, name=name + "父", relation="father", phone="13800000009"
    )
    return child


def test_a_long_aged_out_child_is_wiped_and_kept_counted(world, persona, settings):
    settings.BAOXUE_ARCHIVE_AFTER_YEARS = 3
    # 16 on the cut-off of 2023 (born by 2007-08-31): archived; born 2008: not yet.
    old = _child(world, "龙老大", date(2007, 5, 1))
    recent = _child(world, "龙老二", date(2008, 5, 1))
    case = case_services.case_open(actor=persona("office"), child=old, note="未到校")
    item = Attachment.objects.create(
        case=case, name="户口本.jpg", content_type="image/jpeg", purpose="proof", size=10
    )
    item.file.save("upload.jpg", ContentFile(b"\xff\xd8\xff scan"), save=True)
    stored = item.file.name
    # A child with an open case is still being worked: not archived.
    assert retention.archive_aged_out(today=TODAY) == 0
    Case.objects.filter(pk=case.pk).update(status=Case.Status.CLOSED)

    assert retention.archive_aged_out(today=TODAY) == 1
    old = Child.records.get(pk=old.pk)
    assert old.archived_at is not None and old.name == retention.ARCHIVED_NAME
    assert old.id_number_enc == old.id_number_hash == old.id_suffix == ""
    assert old.id_number_masked == "" and old.birth_date == date(2007, 1, 1)
    assert not Guardian.objects.filter(child_id=old.pk).exists()
    assert not Attachment.objects.filter(pk=item.pk).exists()
    assert not default_storage.exists(stored)
    # Gone from lists and searches; its case stays, counted in past years.
    assert not Child.objects.filter(pk=old.pk).exists()
    assert Case.objects.filter(pk=case.pk, child_id=old.pk).exists()
    # The one born later is untouched; a second sweep finds nothing more.
    recent.refresh_from_db()
    assert recent.name == "龙老二" and recent.archived_at is None
    assert retention.archive_aged_out(today=TODAY) == 0
    event = AuditEvent.objects.get(action="child.archived")
    assert event.data == {"children": 1, "born_by": "2007-08-31"}


def test_archiving_is_off_with_zero_years(world, settings):
    settings.BAOXUE_ARCHIVE_AFTER_YEARS = 0
    _child(world, "龙老大", date(2000, 5, 1))
    assert retention.archive_aged_out(today=TODAY) == 0
    assert Child.objects.filter(name="龙老大").exists()


def test_the_sweep_archives_and_says_so(world, settings):
    """`baoxue sweep` (and `serve`, hourly) runs the archiving beside the other clean-ups."""
    from baoxue.cli import _sweep, _swept_line

    settings.BAOXUE_ARCHIVE_AFTER_YEARS = 3
    _child(world, "龙老大", date(2000, 5, 1))
    done = _sweep()
    assert done["archived_children"] == 1
    assert "归档超龄多年的儿童 1 名" in _swept_line(done)
    assert AuditEvent.objects.filter(action="instance.swept").exists()
