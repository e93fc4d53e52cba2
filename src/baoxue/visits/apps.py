from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "baoxue.visits"
    label = "visits"
    verbose_name = "家访"

    def ready(self) -> None:
        # Imported here: the selectors read models, loaded once the apps are ready.
        from baoxue.registry import pages
        from baoxue.visits import selectors

        # A visitor opens the pages of the children of a household she is to visit.
        pages.add_child_grant(selectors.visiting_child)
        pages.add_home_part(selectors.home_part)
