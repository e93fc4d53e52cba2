from django.apps import AppConfig


class SubsidiesConfig(AppConfig):
    name = "baoxue.subsidies"
    label = "subsidies"
    verbose_name = "学生资助"

    def ready(self) -> None:
        # Imported here: models and the sources that use them load once the apps are ready.
        from baoxue.accounts.models import Role
        from baoxue.imports.registry import register
        from baoxue.subsidies.importing import SubsidiesSource

        # The school reports it; the township office imports every source.
        register("subsidies", SubsidiesSource(), roles=(Role.SCHOOL,))
