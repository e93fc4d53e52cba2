from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "baoxue.core"
    label = "core"
    verbose_name = "核心"
