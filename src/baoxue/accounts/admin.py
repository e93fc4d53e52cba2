from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from baoxue.accounts.models import RoleAssignment, User
from baoxue.accounts.services import user_totp_reset
from baoxue.accounts.signals import account_switched_off
from baoxue.core.services import log_action

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
    actions = ["reset_totp"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("姓名、电话与单位"), {"fields": ("display_name", "phone", "unit")}),
    )

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _audit_user_saved(request, obj, form, change)
        if change and not obj.is_active and "is_active" in form.changed_data:
            # Switched off while still named on open records (cases, …): the apps above say so.
            for _receiver, warning in account_switched_off.send(sender=User, user=obj):
                if warning:
                    self.message_user(request, warning, level=messages.WARNING)

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is RoleAssignment:
            _audit_roles_saved(request, form.instance, formset)

    def delete_model(self, request: Any, obj: User) -> None:
        _audit(request, "user.deleted", obj, username=obj.username)
        super().delete_model(request, obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for user in queryset:
            _audit(request, "user.deleted", user, username=user.username)
        super().delete_queryset(request, queryset)

    @admin.action(description=_("重置两步验证（手机丢失或更换时）"))
    def reset_totp(self, request: Any, queryset: Any) -> None:
        for user in queryset:
            user_totp_reset(actor=request.user, user=user, request=request)
        self.message_user(
            request,
            gettext("已重置 %(n)s 个账号的两步验证：下次登录时重新绑定验证器。")
            % {"n": queryset.count()},
        )


# Who was given or lost which right in the admin: the admin's changes go through no service,
# so they are audited here, with the acting admin, inside the admin's own transaction.
USER_FLAGS = {
    "is_active": ("user.activated", "user.deactivated"),
    "is_staff": ("user.staff_granted", "user.staff_removed"),
    "is_superuser": ("user.superuser_granted", "user.superuser_removed"),
}


def _audit(request: Any, action: str, user: User, **data: Any) -> None:
    log_action(
        actor=request.user, action=action, obj=user, data={**data, "via": "admin"}, request=request
    )


def _audit_user_saved(request: Any, user: User, form: Any, change: bool) -> None:
    if not change:
        _audit(request, "user.created", user, username=user.username)
    for flag, (on, off) in USER_FLAGS.items():
        if flag in form.changed_data:
            _audit(request, on if getattr(user, flag) else off, user)


def _role_data(assignment: RoleAssignment) -> dict[str, Any]:
    where = str(assignment.region or assignment.school or "")
    if assignment.grade:
        where += f" {assignment.grade}年级{assignment.class_name}"
    return {"role": assignment.role, "where": where}


def _audit_roles_saved(request: Any, user: User, formset: Any) -> None:
    for assignment in formset.new_objects:
        _audit(request, "user.role_granted", user, **_role_data(assignment))
    for assignment, fields in formset.changed_objects:
        _audit(request, "user.role_changed", user, fields=fields, **_role_data(assignment))
    for assignment in formset.deleted_objects:
        _audit(request, "user.role_removed", user, **_role_data(assignment))


admin.site.unregister(Group)
# django-otp's own page for authenticators is English only and shows the secret keys; a lost
# phone is handled by the action above instead.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(Group)
class GroupAdmin(ChinesePermissions, BaseGroupAdmin):
    pass
