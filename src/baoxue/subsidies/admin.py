"""Django admin for configuration: the subsidy programmes and their default amounts. The
subsidy records themselves are children's data and are not edited here (see
baoxue.registry.admin)."""

from django.contrib import admin

from baoxue.subsidies.models import SubsidyProgram


@admin.register(SubsidyProgram)
class SubsidyProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "unit", "amount_primary", "amount_junior", "is_in_kind"]
    search_fields = ["name", "code", "aliases"]
