from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("accounts/", include("baoxue.accounts.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("imports/", include("baoxue.imports.urls")),
    path("reconcile/", include("baoxue.reconcile.urls")),
    path("cases/", include("baoxue.cases.urls")),
    path("visits/", include("baoxue.visits.urls")),
    path("audit/", include("baoxue.audit.urls")),
    path("healthz", healthz, name="healthz"),
    path("", include("baoxue.registry.urls")),
]
