from typing import Any

from django.apps import AppConfig


class ReconcileConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "baoxue.reconcile"
    verbose_name = "比对"

    def ready(self) -> None:
        # Imported here: models and services load once the apps are ready.
        from baoxue.cases import signals as case_signals
        from baoxue.cases.models import CATEGORY_LABELS as case_labels
        from baoxue.reconcile import selectors
        from baoxue.reconcile.models import CATEGORY_LABELS
        from baoxue.reconcile.services import case_dismissed
        from baoxue.registry import pages

        pages.add_home_part(selectors.home_part)
        pages.add_child_part(selectors.child_part)

        # The cases show the categories by these names.
        case_labels.update(CATEGORY_LABELS)

        def dismissed(sender: Any, case: Any, **kwargs: Any) -> None:
            case_dismissed(case)

        case_signals.case_dismissed.connect(
            dismissed, weak=False, dispatch_uid="reconcile.case_dismissed"
        )
