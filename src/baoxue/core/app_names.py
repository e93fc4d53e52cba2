"""Chinese names for the third-party apps the admin (系统配置) lists. Neither django-axes nor
django-tasks-db ships a Chinese translation, so a Chinese admin would read "Axes", "Access
attempts", "Tasks Database Backend", "Task Results". An AppConfig subclass named in
INSTALLED_APPS is Django's documented way to rename an app; its models' names are set on their
_meta when the app is ready. Labels and Meta options stay as they are (Django builds migrations
from the options a model declared, not from these), so no migration changes."""

from __future__ import annotations

from typing import Any

from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPAppConfig
from django_tasks_db.apps import TasksAppConfig


def _name_models(config: AppConfig, names: dict[str, Any]) -> None:
    for model in config.get_models():
        name = names.get(model.__name__)
        if name is not None:
            model._meta.verbose_name = model._meta.verbose_name_plural = name


class AxesConfig(AxesAppConfig):
    verbose_name = _("登录保护")

    def ready(self) -> None:
        super().ready()
        _name_models(
            self,
            {
                "AccessAttempt": _("登录失败与锁定"),
                "AccessAttemptExpiration": _("锁定到期时间"),
                "AccessFailureLog": _("登录失败记录"),
                "AccessLog": _("登录记录"),
            },
        )


class TasksDatabaseConfig(TasksAppConfig):
    # The base class names a plain str; a lazy translation is what AppConfig takes too.
    verbose_name = _("后台任务")  # type: ignore[assignment]

    def ready(self) -> None:
        super().ready()
        _name_models(self, {"DBTaskResult": _("后台任务记录")})


class TOTPConfig(TOTPAppConfig):
    # django-otp ships no Chinese; the permission lists of the user page name this app.
    verbose_name = _("两步验证")

    def ready(self) -> None:
        super().ready()
        _name_models(self, {"TOTPDevice": _("身份验证器")})
