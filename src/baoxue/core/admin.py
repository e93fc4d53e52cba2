from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from baoxue.core.models import AuditEvent

# The admin is the system's configuration (系统配置), in the user's language like every page.
admin.site.site_header = _("保学 · 系统配置")
admin.site.site_title = _("保学")
admin.site.index_title = _("系统配置")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "ip_address"]
    list_filter = ["action"]
    search_fields = ["object_id", "actor__username"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
