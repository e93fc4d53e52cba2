from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
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


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ChinesePermissions, BaseGroupAdmin):
    pass
