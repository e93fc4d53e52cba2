from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.models import RoleAssignment, User

# Django writes permission names as English rows ("Can add case event") when it migrates;
# the admin shows them in Chinese from the codename and the model's own Chinese name.
ACTIONS = {
    "add": _("添加"),
    "change": _("修改"),
    "delete": _("删除"),
    "view": _("查看"),
}


def permission_label(permission: Permission) -> str:
    """应用 | 模型 | 可以添加模型, built from the codename and the verbose names (a custom
    permission keeps its own name)."""
    content_type = permission.content_type
    try:
        app = str(apps.get_app_config(content_type.app_label).verbose_name)
    except LookupError:
        app = content_type.app_label
    model_class = content_type.model_class()
    model = str(model_class._meta.verbose_name) if model_class else content_type.model
    action, _sep, rest = permission.codename.partition("_")
    if action in ACTIONS and model_class is not None and rest == model_class._meta.model_name:
        name = gettext("可以%(action)s%(model)s") % {"action": ACTIONS[action], "model": model}
    else:
        name = permission.name
    return f"{app} | {model} | {name}"


class ChinesePermissions:
    """The permission pickers of the user and group pages, labelled in Chinese."""

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None and db_field.name in {"user_permissions", "permissions"}:
            field.label_from_instance = permission_label
        return field


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    autocomplete_fields = ["region", "school"]


@admin.register(User)
class UserAdmin(ChinesePermissions, BaseUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ["username", "display_name", "unit", "phone", "is_active", "is_staff"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("姓名、电话与单位"), {"fields": ("display_name", "phone", "unit")}),
    )

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and not obj.is_active and "is_active" in form.changed_data:
            # Switched off while still named on open cases: say so, and where to hand over.
            from baoxue.cases.models import Case, Responsibility

            named = (
                Responsibility.objects.filter(user=obj, ended_at=None)
                .exclude(case__status__in=Case.FINISHED)
                .values("case_id")
                .distinct()
                .count()
            )
            if named:
                self.message_user(
                    request,
                    format_html(
                        gettext(
                            "{} 已停用，但还是 {} 个未结案件的责任人。请乡镇控辍保学办公室在"
                            '“<a href="{}">交接案件</a>”里把这些案件交给接手的人。'
                        ),
                        obj,
                        named,
                        reverse("cases:handover"),
                    ),
                    level=messages.WARNING,
                )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ChinesePermissions, BaseGroupAdmin):
    pass
