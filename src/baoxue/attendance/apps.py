from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "baoxue.attendance"
    label = "attendance"
    verbose_name = "考勤"
