"""Django admin for configuration: places and schools. Children's records are edited through
the application's own pages and imports, where scope and audit apply."""

from django.contrib import admin

from baoxue.registry.models import Region, School, region_columns
from baoxue.registry.services import region_create


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "code", "parent"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    readonly_fields = ["path"]
    autocomplete_fields = ["parent"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a place in the tree would leave its descendants' paths and the scope columns of
        # every child below it stale, so level and parent are fixed once created.
        return ["path", "level", "parent"] if obj is not None else ["path"]

    def save_model(self, request, obj, form, change):
        # New places go through the service, which builds the path and writes the audit row;
        # renaming an existing place leaves its path alone.
        if change:
            super().save_model(request, obj, form, change)
            return
        created = region_create(
            name=obj.name, level=obj.level, parent=obj.parent, code=obj.code, actor=request.user
        )
        obj.pk, obj.path = created.pk, created.path


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "code",
        "region",
        "is_boarding",
        "lowest_grade",
        "highest_grade",
    ]
    list_filter = ["kind", "is_boarding"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["region"]

    def save_model(self, request, obj, form, change):
        for key, value in region_columns(obj.region).items():
            setattr(obj, key, value)
        super().save_model(request, obj, form, change)
