from django.apps import AppConfig


class SubsidiesConfig(AppConfig):
    name = "baoxue.subsidies"
    label = "subsidies"
    verbose_name = "学生资助"
