from django.apps import AppConfig


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "baoxue.cases"
    verbose_name = "一人一案"

    def ready(self) -> None:
        # Imported here: models and services load once the apps are ready.
        from baoxue.accounts.signals import account_switched_off
        from baoxue.cases import selectors
        from baoxue.cases.services import follow_children, switched_off_warning
        from baoxue.registry import pages
        from baoxue.registry.signals import children_moved

        pages.add_home_part(selectors.home_part)
        pages.add_child_part(selectors.child_part)
        pages.add_child_grant(selectors.named_on_open_case)

        def follow(sender: object, township_ids: list[int], **kwargs: object) -> None:
            follow_children(township_ids=township_ids)

        children_moved.connect(follow, weak=False, dispatch_uid="cases.follow_children")
        account_switched_off.connect(
            switched_off_warning, weak=False, dispatch_uid="cases.switched_off"
        )
