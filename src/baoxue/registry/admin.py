"""Django admin for configuration: places and schools. Children's records are edited through
the application's own pages and imports, where scope and audit apply."""

from django.contrib import admin

from baoxue.registry.models import Region, School


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "code", "parent"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    readonly_fields = ["path"]
    autocomplete_fields = ["parent"]


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
        from baoxue.registry.models import region_columns

        for key, value in region_columns(obj.region).items():
            setattr(obj, key, value)
        super().save_model(request, obj, form, change)
