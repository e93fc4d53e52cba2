"""A holiday home-visit campaign in the demo township, through the township's own services: the
key groups' households, the teacher sent to her class's families and the village cadre to the
village's, and a few visits already recorded, so that coverage has something to show."""

from __future__ import annotations

from datetime import date, timedelta

from baoxue.accounts.models import User
from baoxue.registry.models import Region
from baoxue.visits import services
from baoxue.visits.models import VisitCampaign


def demo_visits(
    *, office: User, teacher: User, cadre: User, township: Region, today: date
) -> VisitCampaign:
    campaign = services.campaign_create(
        actor=office,
        township=township,
        name=f"{today.year}年寒假控辍保学大家访",
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=30),
        groups=["lifted", "monitored", "left_behind", "disabled", "open_cases"],
        today=today,
    )
    klass = teacher.role_assignments.get()
    services.targets_assign(
        actor=office,
        campaign=campaign,
        visitor=teacher,
        school_id=klass.school_id,
        grade=klass.grade,
        class_name=klass.class_name,
    )
    village = cadre.role_assignments.get()
    services.targets_assign(
        actor=office, campaign=campaign, visitor=cadre, village_id=village.region_id
    )
    for n, target in enumerate(campaign.targets.filter(visitor=cadre).order_by("pk")[:3]):
        children = services.household_children(target, today=today)
        services.visit_record(
            actor=cadre,
            target=target,
            client_id=f"demo-{target.pk}",
            data={
                "visited_on": (today - timedelta(days=2 - n)).isoformat(),
                "visitors": f"{cadre.display_name}、驻村工作队员",
                "people_met": "孩子的祖父母",
                "guardianship": "父母在广东务工，祖父母监护",
                "subsidies": ["meals", "living", "textbooks"],
                "explained": ["compulsory_law", "subsidy_policy", "safety"],
                "problems": "" if n else "孩子说不想读书，想跟父母出去打工",
                "help_given": "" if n else "讲解义务教育法，约定开学前由班主任再次家访",
                "follow_up_by": "" if n else (today + timedelta(days=14)).isoformat(),
            },
            children=[
                {"child": c.pk, "seen": True, "status": "in_school", "study_mood": "一般"}
                for c in children
            ],
        )
    return campaign
