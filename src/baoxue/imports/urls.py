from django.urls import path

from baoxue.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.batch_list, name="batch_list"),
    path("templates/<str:source>.xlsx", views.template_download, name="template"),
    path("<str:public_id>/", views.batch_detail, name="batch_detail"),
    path("<str:public_id>/validate/", views.batch_validate, name="batch_validate"),
    path("<str:public_id>/commit/", views.batch_commit, name="batch_commit"),
    path("<str:public_id>/cancel/", views.batch_cancel, name="batch_cancel"),
    path("<str:public_id>/remap/", views.batch_remap, name="batch_remap"),
    path("<str:public_id>/villages/", views.batch_villages, name="batch_villages"),
    path("<str:public_id>/errors.xlsx", views.batch_errors, name="batch_errors"),
]
