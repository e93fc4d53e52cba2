from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baoxue.accounts.models import Role
from baoxue.accounts.permissions import (
    can_resolve_discrepancy,
    can_reveal_id_number,
    can_undo_merge,
)
from baoxue.accounts.scope import scope_for
from baoxue.core import sheets
from baoxue.core.services import log_action
from baoxue.registry import merging, pages, selectors, services
from baoxue.registry.forms import ChildFilterForm
from baoxue.registry.models import Child, Discrepancy, Household, Region, School

PAGE_SIZE = 50


class CappedPaginator(Paginator):
    """Counts at most `cap` rows: a county-wide search for a common surname matches hundreds
    of thousands of children, and counting them all costs more than showing the first page.
    The page then says "more than 10,000" and asks for a narrower search."""

    @cached_property
    def cap(self) -> int:
        return int(settings.BAOXUE_LIST_COUNT_CAP)

    @cached_property
    def count(self) -> int:
        # Without ORDER BY: counting does not need the list's order, and keeping it makes the
        # database walk the name index past every non-match.
        qs = self.object_list.order_by()  # type: ignore[attr-defined]
        return int(qs[: self.cap + 1].count())

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap


def _page(request: HttpRequest, qs: Any, size: int = PAGE_SIZE) -> Page[Any]:
    return CappedPaginator(qs, size).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
def start(request: HttpRequest) -> HttpResponse:
    """Where a login lands: a teacher's or village cadre's work starts from their own cases
    (我的案件); everyone else from the home counts."""
    scope = scope_for(request.user)
    if scope.has_role(Role.TEACHER, Role.VILLAGE) and not scope.has_role(
        Role.TOWNSHIP_OFFICE, Role.LEADER, Role.SCHOOL, Role.COUNTY_INSPECTOR
    ):
        return redirect("cases:mine")
    return redirect("registry:home")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The front page: the children (live, or the county's snapshot with its time), the open
    cases beside them, and what the latest 比对 of each area says, named with its date. The
    apps above the registry add their parts (registry.pages)."""
    user = request.user
    counts = selectors.home_counts(user)
    # The open cases by place, the latest 比对 of each area: what the apps above add.
    context = {"counts": counts, **pages.home_context(user, counts)}
    return render(request, "registry/home.html", context)


@login_required
def child_list(request: HttpRequest) -> HttpResponse:
    form = ChildFilterForm(request.GET or None, user=request.user)
    filters: dict[str, Any] = {}
    results = selectors.child_search(request.user)
    if form.is_bound:
        if form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            results = selectors.child_search(request.user, **filters)
        else:
            # A filter outside the scope (a hand-edited URL) shows nothing rather than the
            # unfiltered list, which would look like an answer to the question asked.
            results = results.none()
    page = _page(request, results)
    context = {
        "form": form,
        "page": page,
        "query": _query_without_page(request),
        "search_refused": selectors.id_search_refused(request.user, str(filters.get("q") or "")),
    }
    template = "registry/child_list.html"
    if request.htmx and request.htmx.target == "child-results":  # type: ignore[attr-defined]
        template = "registry/child_list.html#results"
    return render(request, template, context)


@login_required
def child_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        child = selectors.access_child(request.user, public_id, request=request)
    except Http404:
        kept = selectors.merged_into(request.user, public_id)
        if kept is None:
            raise
        return redirect("registry:child_detail", kept.public_id)  # the child it is now
    log_action(actor=request.user, action="child.viewed", obj=child, request=request)
    context = {
        "child": child,
        "can_reveal": can_reveal_id_number(request.user),
        "can_undo_merge": can_undo_merge(request.user),
        **selectors.child_detail(child),
        # The latest 比对's word on the child, its case files: what the apps above add.
        **pages.child_context(request.user, child),
    }
    context["siblings"], context["siblings_hidden"] = selectors.siblings(request.user, child)
    return render(request, "registry/child_detail.html", context)


@require_POST
@login_required
def child_reveal_id(request: HttpRequest, public_id: str) -> HttpResponse:
    child = selectors.access_child(request.user, public_id, request=request)
    if not can_reveal_id_number(request.user):
        raise Http404
    log_action(actor=request.user, action="child.id_revealed", obj=child, request=request)
    return render(request, "registry/_id_number.html", {"child": child, "revealed": True})


@login_required
def duplicate_ids(request: HttpRequest) -> HttpResponse:
    page = _page(request, selectors.duplicate_id_children(request.user))
    shared = selectors.duplicate_id_count(request.user)
    return render(request, "registry/duplicates.html", {"page": page, "shared_ids": shared})


@login_required
def school_list(request: HttpRequest) -> HttpResponse:
    counts = {row.key: row for row in selectors.counts_by_school(request.user)}
    schools = list(
        selectors.School.objects.visible_to(request.user)
        .select_related("region")
        .order_by("kind", "name")
    )
    rows = [(s, counts.get(s.pk)) for s in schools]
    return render(request, "registry/school_list.html", {"rows": rows})


@login_required
def school_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    school = selectors.access_school(request.user, public_id)
    students = Child.objects.visible_to(request.user).filter(current_school=school)
    by_grade = list(
        students.values("current_grade").annotate(n=Count("id")).order_by("current_grade")
    )
    page = _page(
        request,
        students.select_related("village", "group", "current_school").order_by(
            "current_grade", "current_class", "name"
        ),
    )
    context = {
        "school": school,
        "by_grade": by_grade,
        "page": page,
        "query": "",
        # Only schools the office may merge into (its own townships'): the rest of the county
        # would be refused, and their names are not the office's to see.
        "merge_into": list(
            School.objects.visible_to(request.user)
            .filter(county_id=school.county_id, is_outside_area=False)
            .exclude(pk=school.pk)
            .order_by("name")
        )
        if can_undo_merge(request.user)
        else [],
    }
    return render(request, "registry/school_detail.html", context)


@login_required
def village_detail(request: HttpRequest, region_id: int) -> HttpResponse:
    region = selectors.access_region(request.user, region_id)
    if region.level not in {Region.Level.VILLAGE, Region.Level.GROUP}:
        raise Http404
    village = region if region.level == Region.Level.VILLAGE else region.parent
    assert village is not None
    children = Child.objects.visible_to(request.user).filter(village=village)
    by_group = {
        row["group_id"]: row["n"]
        for row in children.values("group_id").annotate(n=Count("id")).order_by()
    }
    groups = [(g, by_group.get(g.pk, 0)) for g in village.children.order_by("name")]
    # The village's row of the home page: its compulsory-age children by school status.
    by_status = dict(
        children.filter(selectors.compulsory_age_q())
        .values_list("school_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    households = (
        Household.objects.visible_to(request.user)
        .filter(village=village)
        .aggregate(
            total=Count("id"),
            key=Count("id", filter=Q(is_lifted_from_poverty=True) | ~Q(monitoring_type="")),
        )
    )
    page = _page(
        request,
        children.select_related("village", "group", "current_school").order_by("name", "id"),
    )
    context = {
        "village": village,
        "groups": groups,
        "by_status": by_status,
        "household_count": households["total"],
        "key_households": households["key"],
        "page": page,
        "query": "",
        # The office may merge a misspelt village into the one it is (registry.merging): one
        # query more on the page (the query-count test counts it).
        "merge_into": list(
            Region.objects.filter(parent=village.parent_id, level="village")
            .exclude(pk=village.pk)
            .order_by("name")
        )
        if can_undo_merge(request.user)
        else [],
    }
    return render(request, "registry/village_detail.html", context)


@require_POST
@login_required
def village_merge(request: HttpRequest, region_id: int) -> HttpResponse:
    """合并村: this village (a typo, a duplicate) into another of its township."""
    source = selectors.access_region(request.user, region_id)
    target = selectors.access_region(request.user, _int(request.POST.get("into")))
    try:
        moved = merging.region_merge(source=source, target=target, actor=request.user)
    except PermissionDenied:
        log_action(actor=request.user, action="region.merge_denied", obj=source, request=request)
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("registry:village_detail", source.pk)
    messages.success(
        request,
        _("已把“%(a)s”合并到“%(b)s”（移动 %(n)s 条记录）。")
        % {"a": source.name, "b": target.name, "n": sum(moved.values())},
    )
    return redirect("registry:village_detail", target.pk)


@require_POST
@login_required
def school_merge(request: HttpRequest, public_id: str) -> HttpResponse:
    """合并学校: this school (made from its code, a duplicate) into the one it is."""
    source = selectors.access_school(request.user, public_id)
    target = selectors.access_school(request.user, str(request.POST.get("into", "")))
    try:
        moved = merging.school_merge(source=source, target=target, actor=request.user)
    except PermissionDenied:
        log_action(actor=request.user, action="school.merge_denied", obj=source, request=request)
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("registry:school_detail", source.public_id)
    messages.success(
        request,
        _("已把“%(a)s”合并到“%(b)s”（移动 %(n)s 条记录）。")
        % {"a": source.name, "b": target.name, "n": sum(moved.values())},
    )
    return redirect("registry:school_detail", target.public_id)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


@login_required
def village_list(request: HttpRequest) -> HttpResponse:
    counts = {row.key: row for row in selectors.counts_by_village(request.user)}
    villages = (
        Region.objects.visible_to(request.user).filter(level="village").select_related("parent")
    )
    rows = [(v, counts.get(v.pk)) for v in villages.order_by("parent__name", "name")]
    return render(request, "registry/village_list.html", {"rows": rows})


# --- 信息不一致 -----------------------------------------------------------------------------------


def _discrepancy_filters(request: HttpRequest) -> dict[str, str]:
    return {
        "status": request.GET.get("status", "open"),
        "item": request.GET.get("item", ""),
        "source": request.GET.get("source", ""),
        "query": request.GET.get("q", "").strip()[:40],
    }


def _discrepancies(user: Any, filters: dict[str, str]) -> Any:
    return selectors.discrepancies(
        user,
        status=filters["status"],
        item=filters["item"],
        source=filters["source"],
        query=filters["query"],
    )


@login_required
def discrepancy_list(request: HttpRequest) -> HttpResponse:
    """The differences between the lists and the registry, for the school or village to
    settle (the ministry's 四查三比对 output that a school corrects its 学籍 from)."""
    filters = _discrepancy_filters(request)
    page = _page(request, _discrepancies(request.user, filters))
    rows = [(d, *selectors.discrepancy_sides(d)) for d in page]
    return render(
        request,
        "registry/discrepancy_list.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "query": _query_without_page(request),
            "statuses": Discrepancy.Status.choices,
            "items": Discrepancy.Item.choices,
            "sources": [c for c in Discrepancy.Source.choices if c[0] != "registry"],
            "can_resolve": can_resolve_discrepancy(request.user),
        },
    )


@require_POST
@login_required
def discrepancy_resolve(request: HttpRequest, public_id: str) -> HttpResponse:
    found = selectors.access_discrepancy(request.user, public_id)
    back = request.POST.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    try:
        services.discrepancy_resolve(
            discrepancy=found,
            actor=request.user,
            choice=request.POST.get("choice", ""),
            value=request.POST.get("value", ""),
        )
    except PermissionDenied:
        log_action(
            actor=request.user,
            action="discrepancy.resolve_denied",
            obj=found.child,
            data={"discrepancy": str(found.public_id)},
            request=request,
        )
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("已按您的选择更正%(name)s的%(item)s。")
            % {"name": found.child.name, "item": found.get_item_display()},
        )
    return redirect(back or "registry:discrepancy_list")


@login_required
def discrepancy_export(request: HttpRequest) -> HttpResponse:
    """The list as the page filters it, as xlsx: whole ID numbers and 学籍号 for the roles
    whose work needs them (a school correcting its 学籍), masked for the others; logged."""
    filters = _discrepancy_filters(request)
    found = _discrepancies(request.user, filters)
    full = can_reveal_id_number(request.user)
    response = HttpResponse(
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="discrepancies-{timezone.localdate():%Y%m%d}.xlsx"'
    )
    count = sheets.write_xlsx(
        response,
        sheet=_("信息不一致"),
        title=_("信息不一致清单（%(date)s 导出）") % {"date": f"{timezone.localdate():%Y-%m-%d}"},
        headers=[str(h) for h in selectors.DISCREPANCY_HEADERS],
        rows=selectors.discrepancy_rows(found, full_ids=full),
        widths={1: 10, 2: 21, 3: 22, 5: 14, 6: 14, 7: 20, 8: 18},
    )
    log_action(
        actor=request.user,
        action="discrepancy.exported",
        data={"rows": count, "full_ids": full, **filters},
        request=request,
    )
    return response
