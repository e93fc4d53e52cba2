from django.urls import path

from baoxue.registry import views

app_name = "registry"
urlpatterns = [
    path("", views.home, name="home"),
    path("start/", views.start, name="start"),
    path("children/", views.child_list, name="child_list"),
    path("children/duplicates/", views.duplicate_ids, name="duplicates"),
    path("children/<str:public_id>/", views.child_detail, name="child_detail"),
    path("children/<str:public_id>/id-number/", views.child_reveal_id, name="child_reveal_id"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy_list"),
    path("discrepancies/export.xlsx", views.discrepancy_export, name="discrepancy_export"),
    path(
        "discrepancies/<str:public_id>/resolve/",
        views.discrepancy_resolve,
        name="discrepancy_resolve",
    ),
    path("schools/", views.school_list, name="school_list"),
    path("schools/<str:public_id>/", views.school_detail, name="school_detail"),
    path("schools/<str:public_id>/merge/", views.school_merge, name="school_merge"),
    path("villages/", views.village_list, name="village_list"),
    path("villages/<int:region_id>/", views.village_detail, name="village_detail"),
    path("villages/<int:region_id>/merge/", views.village_merge, name="village_merge"),
]
