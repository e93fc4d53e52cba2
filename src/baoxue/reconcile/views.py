"""Pages: runs (start one, watch it, read the result by village and school, filter the list,
download the ledgers) and the review queue of uncertain links."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baoxue.accounts.permissions import can_reveal_id_number
from baoxue.core import jobs, times
from baoxue.core.services import log_action
from baoxue.reconcile import engine, ledgers, merges, selectors, services
from baoxue.reconcile.models import (
    CATEGORY_CHOICES,
    CATEGORY_LABELS,
    METHOD_LABELS,
    ReconciliationRun,
)
from baoxue.registry.views import CappedPaginator

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PER_PAGE = 50
# The run list's columns: the children to follow up.
RUN_LIST_CATEGORIES = [engine.SUSPECTED, engine.TO_VERIFY]


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    areas = services.runnable_areas(request.user)
    if request.method == "POST":
        if not areas:
            raise PermissionDenied
        area = next((a for a in areas if str(a.pk) == request.POST.get("area")), None)
        try:
            as_of = _as_of(request.POST.get("as_of", ""))
            run = services.run_queue(actor=request.user, area=area or areas[0], as_of=as_of)
        except (PermissionDenied, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return redirect("reconcile:run_list")
        return redirect("reconcile:run_detail", run.public_id)
    runs = selectors.run_history(request.user)
    # Each run's figures in the user's scope (a village sees its own children of the
    # township's run), as the run's page counts them.
    counts = selectors.category_counts(
        request.user,
        [r for r in runs if r.status == ReconciliationRun.Status.DONE],
        RUN_LIST_CATEGORIES,
    )
    pending = selectors.pending_reviews(request.user)
    today = timezone.localdate()
    return render(
        request,
        "reconcile/run_list.html",
        {
            "runs": [(run, _run_list_cells(run, counts.get(run.pk))) for run in runs],
            "categories": [(c, CATEGORY_LABELS[c]) for c in RUN_LIST_CATEGORIES],
            "areas": areas,
            "pending_reviews": pending.count(),
            "today": today,
            # Before a run: the lists of this term that have not come, per area.
            "lists": [(a, services.list_states(a, today)) for a in areas],
        },
    )


def _run_list_cells(
    run: ReconciliationRun, counts: dict[str, int] | None
) -> list[tuple[str, int | None]]:
    return [(c, None if counts is None else counts[c]) for c in RUN_LIST_CATEGORIES]


def _as_of(text: str) -> date | None:
    """The 比对日期 of the form: empty or today for a run about today."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(_("比对日期请写成 2025-10-01 这样的格式。")) from None
    return None if day == timezone.localdate() else day


@login_required
def run_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    run = selectors.access_run(request.user, public_id)
    jobs.give_up_if_stopped(run)  # its worker gone: failed, and the page stops waiting
    context: dict[str, Any] = {"run": run, "progress": run.progress()}
    if run.status == ReconciliationRun.Status.FAILED and run.area_id in {
        a.pk for a in services.runnable_areas(request.user)
    }:
        context["retry"] = jobs.retry(
            reverse("reconcile:run_list"),
            _("重新比对"),
            area=run.area_id,
            as_of=run.as_of.isoformat() if run.as_of else "",
        )
    template = "reconcile/run_detail.html"
    if request.htmx and request.htmx.target == "run-status":  # type: ignore[attr-defined]
        response = render(request, "reconcile/run_detail.html#status", context)
        if run.status in {ReconciliationRun.Status.DONE, ReconciliationRun.Status.FAILED}:
            response["HX-Refresh"] = "true"  # the whole page: the result is more than the bar
        return response
    if run.status == ReconciliationRun.Status.DONE:
        user = request.user
        counts = selectors.category_counts(user, [run])[run.pk]
        columns = selectors.table_categories(counts)
        context["counts"] = [(c, CATEGORY_LABELS[c], counts[c]) for c in columns]
        context["total"] = sum(counts.values())
        context["by_village"] = selectors.results_table(user, run, "village", columns)
        context["by_school"] = selectors.results_table(user, run, "school", columns)
        category = request.GET.get("category", "")
        if category not in engine.CATEGORIES and category != selectors.ALL:
            category = ""
        village = request.GET.get("village", "")
        school = request.GET.get("school", "")
        listed = selectors.result_list(user, run, category=category, village=village, school=school)
        page = CappedPaginator(listed, PER_PAGE)
        context.update(
            {
                # The latest run of the area, when this one is not: its page says so.
                "latest": selectors.later_run(run),
                "page": page.get_page(request.GET.get("page")),
                "query": urlencode(
                    {
                        k: v
                        for k, v in (
                            ("category", category),
                            ("village", village),
                            ("school", school),
                        )
                        if v
                    }
                ),
                "category": category,
                "village": village,
                "school": school,
                "categories": CATEGORY_CHOICES,
                "methods": METHOD_LABELS,
                "table_categories": [(c, CATEGORY_LABELS[c]) for c in columns],
                "ledgers": [(k, ledgers.title(k)) for k in ledgers.KINDS],
            }
        )
    return render(request, template, context)


@login_required
def ledger(request: HttpRequest, public_id: str, kind: str) -> HttpResponse:
    run = selectors.access_run(request.user, public_id)
    if kind not in ledgers.KINDS or run.status != ReconciliationRun.Status.DONE:
        raise Http404
    full = can_reveal_id_number(request.user)
    response = HttpResponse(content_type=XLSX)
    filename = f"{kind}-{times.local(run.created_at):%Y%m%d-%H%M}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    count = ledgers.write_xlsx(response, run, kind, request.user, full_ids=full)
    log_action(
        actor=request.user,
        action="reconcile.ledger_exported",
        obj=run,
        data={"kind": kind, "rows": count, "full_ids": full},
        request=request,
    )
    return response


@login_required
def review_list(request: HttpRequest) -> HttpResponse:
    pending = selectors.pending_reviews(request.user).select_related(
        "left__village", "right__village", "right__current_school"
    )
    page = CappedPaginator(pending.order_by("-score", "pk"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "reconcile/review_list.html",
        {
            "page": page,
            "methods": METHOD_LABELS,
            "can_decide": bool(services.runnable_areas(request.user)),
        },
    )


@require_POST
@login_required
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.pending_reviews(request.user, status=None).filter(pk=pk).first()
    if item is None or not services.runnable_areas(request.user):
        raise Http404
    decision = request.POST.get("decision")
    if decision not in {"confirm", "reject"}:
        messages.error(request, _("请选择“是同一人”或“不是同一人”。"))
        return redirect("reconcile:review_list")
    if services.review_decide(
        actor=request.user, review=item, same=decision == "confirm", request=request
    ):
        messages.success(request, _("已记录，下次比对时生效。"))
    else:
        messages.info(request, _("这一对已经有人确认过了。"))
    return redirect("reconcile:review_list")


@require_POST
@login_required
def merge_undo(request: HttpRequest, public_id: str) -> HttpResponse:
    """The office undoes a merge of two records (from the kept child's page)."""
    merge = selectors.access_merge(request.user, public_id)
    try:
        merges.merge_undo(merge=merge, actor=request.user)
    except PermissionDenied:
        log_action(
            actor=request.user,
            action="child.merge_undo_denied",
            obj=merge.kept,
            request=request,
        )
        raise Http404 from None
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
    else:
        messages.success(request, _("已撤销合并：两条记录重新分开，下次比对不会再合并。"))
    return redirect("registry:child_detail", merge.kept.public_id)
