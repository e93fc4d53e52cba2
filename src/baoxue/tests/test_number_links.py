"""One number everywhere: every number link on the home page, the 比对 pages and the 工作看板,
for every demo persona, opens a list of exactly that many rows.

A number link carries its number as `data-count`; a list says how many rows it holds as
`data-total` (its `result-count` line). The walk follows every such link, and fails on a link
whose text is a bare number without `data-count`, so a new figure cannot slip past it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from baoxue.accounts.models import User
from baoxue.cases.models import Case
from baoxue.demo.services import demo_create
from baoxue.reconcile.models import ReconciliationRun
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry.counts import counts_refresh
from baoxue.registry.models import Region

PREFIX = "demo_"
PERSONAS = [
    "office",
    "leader",
    "village_a",
    "village_b",
    "principal",
    "teacher",
    "canlian",
    "county",
    "admin",
]
# The rows of the lists the numbers open (children, cases, a run's results, review pairs,
# households to visit).
ROW_TESTIDS = {"child-row", "case-row", "result-row", "review-item", "target-row"}
PAGE_SIZE = 50


@dataclass
class Link:
    href: str
    count: int | None
    text: str = ""


@dataclass
class Page(HTMLParser):
    """The number links of a page, its list's total and how many list rows it shows."""

    links: list[Link] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    rows: int = 0
    _open: list[Link] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-total") is not None:
            self.totals.append(int(found["data-total"] or ""))
        if found.get("data-testid") in ROW_TESTIDS:
            self.rows += 1
        if tag == "a":
            count = found.get("data-count")
            link = Link(href=found.get("href") or "", count=None if count is None else int(count))
            self.links.append(link)
            self._open.append(link)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for link in self._open:
            link.text += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.fixture
def township(db):
    """The demo township (its own, beside the test world's) after some weeks of work: cases
    opened over several weeks, some finished, a second 比对, the county snapshot current."""
    demo_create(
        password="demo-pass",
        children=600,
        seed=2025,
        township_name="演示苗族乡",
        township_code="450225299",
        username_prefix=PREFIX,
    )
    area = Region.objects.get(code="450225299000")
    cases = list(Case.objects.filter(township=area).order_by("pk"))
    now = timezone.now()
    # Spread the openings over the weeks (and finish some in an earlier week), so that the
    # week bars are not one column: an opening bound without an end shows at once.
    for n, case in enumerate(cases):
        opened = now - timedelta(days=(n % 6) * 9)
        changes = {"opened_at": opened}
        if case.closed_at is not None:
            changes["closed_at"] = opened + timedelta(days=3)
        Case.objects.filter(pk=case.pk).update(**changes)
    office = User.objects.get(username=PREFIX + "office")
    run_execute(run_create(actor=office, area=area))
    assert ReconciliationRun.objects.filter(area=area, status="done").count() == 2
    counts_refresh(county_id=area.parent_id)
    return area


def _get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _pages(user: User, area: Region) -> list[str]:
    """Home, the 工作看板, the run list and the township's latest run, when the user sees it
    (the run list's figures open the earlier run's lists too)."""
    latest = ReconciliationRun.objects.visible_to(user).filter(area=area, status="done").first()
    pages = [reverse("registry:home"), reverse("cases:dashboard"), reverse("reconcile:run_list")]
    if latest is not None:
        pages.append(reverse("reconcile:run_detail", args=[latest.public_id]))
    return pages


@pytest.mark.slow
def test_every_number_opens_a_list_of_that_many_rows(township, client):
    followed = 0

    for persona in PERSONAS:
        user = User.objects.get(username=PREFIX + persona)
        client.force_login(user)
        opened_before: dict[str, Page] = {}
        for url in _pages(user, township):
            page = parse(_get(client, url))
            bare = [a for a in page.links if a.count is None and a.text.strip().isdigit()]
            assert not bare, f"{persona} {url}: numbers without data-count {bare}"
            for link in page.links:
                if link.count is None:
                    continue
                target = urljoin(url, link.href)
                if target not in opened_before:
                    opened_before[target] = parse(_get(client, target))
                opened = opened_before[target]
                where = f"{persona}: {url} → {target}"
                assert opened.totals, f"{where}: the list shows no total"
                assert opened.totals[0] == link.count, f"{where}: {opened.totals[0]}"
                if link.count <= PAGE_SIZE and "duplicates" not in target:
                    assert opened.rows == link.count, f"{where}: {opened.rows} rows"
                followed += 1
    assert followed > 300  # the walk really walked


def test_the_numbers_that_disagreed_now_agree(township, client):
    """The issue's cases: the home page's run figures are the run's, a school row counts its
    open cases, a village row's 合计 adds up, a week bar opens only its week."""
    office = User.objects.get(username=PREFIX + "office")
    client.force_login(office)
    latest = ReconciliationRun.objects.filter(area=township, status="done").first()
    assert latest is not None
    home = _get(client, reverse("registry:home"))
    detail_url = reverse("reconcile:run_detail", args=[latest.public_id])
    to_verify = f'href="{detail_url}?category=to_verify" data-count="{latest.counts["to_verify"]}"'
    assert to_verify in home and latest.created_at.astimezone().strftime("%Y-%m-%d") in home
    # A school's open cases are counted by the case's school, not by a column never set.
    school, open_at_school = (
        Case.objects.open()
        .filter(township=township)
        .exclude(school=None)
        .values_list("school")
        .annotate(n=Count("pk"))
        .order_by("-n")[0]
    )
    assert f'href="/cases/?school={school}" data-count="{open_at_school}"' in home
    # The home rows add up: 适龄 is 在校 + 休学 + 未在籍.
    counts = client.get(reverse("registry:home")).context["counts"]
    for row in [counts.total, *counts.by_village, *counts.by_school]:
        assert row.total == row.in_school + row.suspended + row.not_enrolled
    # Each row of the run's per-village table: the 合计 is the sum of its cells.
    detail = client.get(detail_url)
    for row in detail.context["by_village"] + detail.context["by_school"]:
        assert row["total"] == sum(n for _code, n in row["cells"])
    # The first week bar opens the cases of that week only.
    weeks = client.get(reverse("cases:dashboard")).context["f"]["weeks"]
    first = weeks[0]
    assert "opened_until=" in first["opened_query"]
    listed = client.get(reverse("cases:list") + "?" + first["opened_query"])
    assert listed.context["page"].paginator.count == first["opened"]
    # The county reads its snapshot, and says when it was taken.
    client.force_login(User.objects.get(username=PREFIX + "county"))
    assert 'data-testid="counts-as-of"' in _get(client, reverse("registry:home"))
