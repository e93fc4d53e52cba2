"""The demo township: data and one account per role, created on an empty instance."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from baoxue.accounts.models import Role, User
from baoxue.accounts.services import Grant, user_create
from baoxue.demo.builder import ProgressFn, build_demo_township
from baoxue.demo.cases import demo_cases
from baoxue.demo.names import TOWNSHIP_CODE, TOWNSHIP_NAME
from baoxue.demo.visits import demo_visits
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry.models import Child, Region


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role_label: str
    where: str


def demo_is_needed() -> bool:
    return not Region.objects.exists()


def demo_create(
    *,
    password: str,
    children: int = 2500,
    seed: int = 2025,
    progress: ProgressFn | None = None,
    township_name: str = TOWNSHIP_NAME,
    township_code: str = TOWNSHIP_CODE,
    username_prefix: str = "",
) -> list[DemoAccount]:
    with transaction.atomic():
        township, stats = build_demo_township(
            seed=seed,
            children=children,
            progress=progress,
            name=township_name,
            code=township_code,
        )
        county = township.parent
        villages = stats.villages
        central = next(s for s in stats.schools if s.kind == "primary" and s.is_boarding)
        # The teacher is head teacher of the biggest class of the central primary, so that the
        # demo shows a real class list.
        biggest = (
            Child.objects.filter(current_school=central)
            .values_list("current_grade", "current_class")
            .order_by()
            .distinct()
            .first()
        )
        grade, class_name = biggest if biggest else (3, "1班")
        specs: list[tuple[str, str, str, Grant, bool]] = [
            (
                "office",
                "乡控辍保学办公室",
                "乡控辍办",
                Grant(Role.TOWNSHIP_OFFICE, region=township),
                False,
            ),
            ("leader", "领导小组副组长", "乡人民政府", Grant(Role.LEADER, region=township), False),
            (
                "village_a",
                f"{villages[0].name}干部",
                villages[0].name,
                Grant(Role.VILLAGE, region=villages[0]),
                False,
            ),
            (
                "village_b",
                f"{villages[1].name}干部",
                villages[1].name,
                Grant(Role.VILLAGE, region=villages[1]),
                False,
            ),
            (
                "principal",
                f"{central.name}校长",
                central.name,
                Grant(Role.SCHOOL, school=central),
                False,
            ),
            (
                "teacher",
                f"{central.name}{grade}年级{class_name}班主任",
                central.name,
                Grant(Role.TEACHER, school=central, grade=grade, class_name=class_name),
                False,
            ),
            (
                "canlian",
                "乡残联专干",
                "乡残联",
                Grant(Role.DISABILITY_FEDERATION, region=township),
                False,
            ),
            (
                "county",
                "县教育局督学",
                "县教育局",
                Grant(Role.COUNTY_INSPECTOR, region=county),
                False,
            ),
            ("admin", "系统管理员", "乡党政办", Grant(Role.ADMIN), True),
        ]
        accounts = []
        for username, display, unit, grant, superuser in specs:
            username = username_prefix + username
            user_create(
                actor=None,
                username=username,
                password=password,
                display_name=display,
                unit=unit,
                grants=[grant],
                is_superuser=superuser,
                check_password=False,
            )
            where = grant.region or grant.school or "—"
            accounts.append(DemoAccount(username, str(Role(grant.role).label), str(where)))
        # A first comparison, so that 比对, the ledgers and the cases have something to show.
        office = User.objects.get(username=username_prefix + "office")
        run_execute(run_create(actor=office, area=township))
        # Case work on the cases that run opened, through the township's own services.
        demo_cases(
            office=office,
            cadre=User.objects.get(username=username_prefix + "village_a"),
            teacher=User.objects.get(username=username_prefix + "teacher"),
            leader=User.objects.get(username=username_prefix + "leader"),
            seed=seed,
        )
        # A holiday home-visit campaign, its families assigned, a few visits recorded.
        demo_visits(
            office=office,
            teacher=User.objects.get(username=username_prefix + "teacher"),
            cadre=User.objects.get(username=username_prefix + "village_a"),
            township=township,
            today=timezone.localdate(),
        )
    return accounts
