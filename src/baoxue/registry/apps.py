from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "baoxue.registry"
    label = "registry"
    verbose_name = "学籍与人口台账"
