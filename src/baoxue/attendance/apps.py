from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "baoxue.attendance"
    label = "attendance"
    verbose_name = "考勤"

    def ready(self) -> None:
        # Imported here: models and the sources that use them load once the apps are ready.
        from baoxue.accounts.models import Role
        from baoxue.attendance.importing import AttendanceSource
        from baoxue.imports.registry import register

        # The school reports it; the township office imports every source.
        register("attendance", AttendanceSource(), roles=(Role.SCHOOL,))
