from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baoxue.accounts.permissions import can_start_reconciliation
from baoxue.core import jobs
from baoxue.core.services import log_action
from baoxue.imports import selectors, services
from baoxue.imports.forms import MappingForm, UploadForm
from baoxue.imports.models import ImportBatch
from baoxue.imports.registry import SOURCES, all_import_grants
from baoxue.imports.report import write_error_report
from baoxue.imports.sources.base import RowIssue
from baoxue.imports.templates_xlsx import template_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ISSUES_ON_PAGE = 200
HISTORY_PAGE = 50


def attachment(filename: str) -> str:
    """A download named in Chinese (RFC 6266's filename*, with an ASCII fallback)."""
    return content_disposition_header(True, filename) or "attachment"


@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    grants = all_import_grants(request.user)  # one read of the user's roles for the page
    sources = list(grants)
    targets = services.import_targets(grants)
    form = UploadForm(sources=sources, targets=targets, initial={"token": uuid.uuid4().hex})
    if request.method == "POST":
        if not sources:
            raise PermissionDenied
        form = UploadForm(request.POST, request.FILES, sources=sources, targets=targets)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = services.batch_upload(
                    actor=request.user,
                    source=form.cleaned_data["source"],
                    handle=upload,
                    filename=upload.name,
                    target=form.cleaned_data.get("target", ""),
                    client_token=form.cleaned_data["token"],
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            except PermissionDenied as exc:
                form.add_error("target" if "target" in form.fields else "source", str(exc))
            else:
                return redirect("imports:batch_detail", batch.public_id)
    # The whole history, a page at a time, by kind of list and status (a township keeps
    # years of batches; each can be opened and its error report downloaded again).
    kind = request.GET.get("source", "")
    status = request.GET.get("status", "")
    page = Paginator(
        selectors.batch_history(request.user, source=kind, status=status), HISTORY_PAGE
    ).get_page(request.GET.get("page"))
    page.object_list = ImportBatch.with_village_names(list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "imports/batch_list.html",
        {
            "form": form,
            "page": page,
            "batches": page.object_list,
            "query": query.urlencode(),
            "sources": [(c, SOURCES[c].label) for c in sources],
            "all_sources": [(c, s.label) for c, s in SOURCES.items()],
            "statuses": ImportBatch.Status.choices,
            "chosen": {"source": kind, "status": status},
        },
    )


@login_required
def batch_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_batch(request.user, public_id)
    # Its worker gone, a running batch is given back, to be run again; the page polling the
    # progress then reloads whole, for the mapping form or the commit button.
    given_back = jobs.give_up_if_stopped(batch)
    if given_back and request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse()
        response["HX-Refresh"] = "true"
        return response
    context: dict[str, Any] = {"batch": batch, "progress": batch.progress()}
    if batch.status == ImportBatch.Status.UPLOADED:
        context["mapping_form"] = MappingForm(
            headers=batch.headers,
            source=batch.source,
            mapping=batch.mapping,
            school=batch.school,
            samples=batch.samples,
            options=batch.options,
            schools=selectors.township_schools(batch),
        )
    if batch.status in {ImportBatch.Status.UPLOADED, ImportBatch.Status.VALIDATED}:
        # The same file (by its checksum) imported before: said before it is imported again.
        context["same_file"] = selectors.same_file_committed(request.user, batch)
    if batch.status in {ImportBatch.Status.VALIDATED, ImportBatch.Status.COMMITTED}:
        context["issues"] = list(batch.issues.all()[:ISSUES_ON_PAGE])
    if batch.status == ImportBatch.Status.COMMITTED:
        # The next step after new lists: the 比对, offered to whoever may start one.
        context["can_reconcile"] = can_start_reconciliation(request.user)
    template = "imports/batch_detail.html"
    if request.htmx and request.htmx.target == "batch-status":  # type: ignore[attr-defined]
        template = "imports/batch_detail.html#status"
    return render(request, template, context)


@require_POST
@login_required
def batch_validate(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_importable_batch(request.user, public_id)
    if batch.status != ImportBatch.Status.UPLOADED:
        messages.info(request, _not_now(batch))
        return redirect("imports:batch_detail", batch.public_id)
    form = MappingForm(
        request.POST,
        headers=batch.headers,
        source=batch.source,
        mapping=batch.mapping,
        school=batch.school,
        schools=selectors.township_schools(batch),
    )
    if not form.is_valid():
        messages.error(request, _("列对应有误，请重新选择。"))
        return redirect("imports:batch_detail", batch.public_id)
    try:
        services.batch_set_mapping(
            actor=request.user, batch=batch, mapping=form.mapping(), options=form.options()
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("imports:batch_detail", batch.public_id)
    services.batch_enqueue(batch=batch, run="validate", actor=request.user)
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_commit(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_importable_batch(request.user, public_id)
    if batch.status != ImportBatch.Status.VALIDATED:
        messages.info(request, _not_now(batch))
        return redirect("imports:batch_detail", batch.public_id)
    if (batch.preview or {}).get("village_questions"):
        messages.error(request, _("请先确认预览中列出的村名，再导入。"))
        return redirect("imports:batch_detail", batch.public_id)
    if request.POST.get("preview", batch.preview_token) != batch.preview_token:
        messages.warning(
            request,
            _("预览已经更新（列对应或选项在别处改过），请看过下面新的预览后再确认导入。"),
        )
        return redirect("imports:batch_detail", batch.public_id)
    services.batch_enqueue(batch=batch, run="commit", actor=request.user)
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_importable_batch(request.user, public_id)
    if services.batch_cancel(actor=request.user, batch=batch):
        messages.success(
            request, _("已取消“%(file)s”，没有导入任何数据。") % {"file": batch.filename}
        )
        return redirect("imports:batch_list")
    if batch.status == ImportBatch.Status.CANCELLED:  # a second click, or another tab's
        return redirect("imports:batch_list")
    messages.info(request, _not_now(batch))
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_remap(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_importable_batch(request.user, public_id)
    if not services.batch_remap(actor=request.user, batch=batch):
        messages.info(request, _not_now(batch))
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_villages(request: HttpRequest, public_id: str) -> HttpResponse:
    """The answers to the preview's questions about village names (each: the known village,
    or a new one; none is chosen for the user)."""
    batch = selectors.access_importable_batch(request.user, public_id)
    answers: dict[str, str] = {
        key.removeprefix("village:"): str(request.POST.get(key, ""))
        for key in request.POST
        if key.startswith("village:")
    }
    asked = {q["key"] for q in (batch.preview or {}).get("village_questions", [])}
    if asked - answers.keys():
        messages.error(request, _("请为每个村名选择：是已有的村，还是新的村。"))
        return redirect("imports:batch_detail", batch.public_id)
    answers = {k: ("" if v == "new" else v) for k, v in answers.items()}
    if not services.batch_answer_villages(actor=request.user, batch=batch, answers=answers):
        messages.info(request, _not_now(batch))
    return redirect("imports:batch_detail", batch.public_id)


def _not_now(batch: ImportBatch) -> str:
    """Why a button pressed on a page that is no longer current did nothing: what the batch
    is now (another tab, a double click, another user of the township)."""
    batch.refresh_from_db(fields=["status"])
    status = ImportBatch.Status
    said: dict[str, str] = {
        status.UPLOADED: _("列对应已经修改过，请重新校验并预览，再确认导入。"),
        status.VALIDATING: _("这个文件正在校验，请稍候。"),
        status.VALIDATED: _("这个文件已经校验过，请查看预览后再确认导入。"),
        status.REFUSED: _("这个文件无法导入，原因见本页。"),
        status.COMMITTING: _("这个批次正在导入，请稍候。"),
        status.COMMITTED: _("这个批次已经导入，不会重复导入。"),
        status.FAILED: _("这个批次导入失败，原因见本页；可以重新上传文件。"),
        status.CANCELLED: _("这个批次已经取消，没有导入任何数据；如需导入，请重新上传文件。"),
    }
    return said.get(batch.status, _("这个批次的状态已经改变，请查看本页。"))


@login_required
def batch_errors(request: HttpRequest, public_id: str) -> HttpResponse:
    batch = selectors.access_batch(request.user, public_id)
    issues = list(batch.issues.all())
    response = HttpResponse(content_type=XLSX)
    stem = Path(batch.filename).stem or "import"
    response["Content-Disposition"] = attachment(_("导入问题清单_%(file)s.xlsx") % {"file": stem})
    write_error_report(
        response,
        batch.headers,
        [RowIssue(i.row_number, i.column, i.code, i.message, i.severity) for i in issues],
        {i.row_number: i.original for i in issues},
    )
    log_action(actor=request.user, action="import.errors_downloaded", obj=batch, request=request)
    return response


@login_required
def template_download(request: HttpRequest, source: str) -> HttpResponse:
    if source not in SOURCES:
        raise Http404
    response = HttpResponse(template_xlsx(SOURCES[source]), content_type=XLSX)
    response["Content-Disposition"] = attachment(
        _("%(label)s模板.xlsx") % {"label": SOURCES[source].label}
    )
    return response
