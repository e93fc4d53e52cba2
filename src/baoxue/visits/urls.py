from django.urls import path

from baoxue.visits import offline, views

app_name = "visits"
urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("mine/", views.my_targets, name="mine"),
    path("app/", offline.app, name="app"),
    path("sw.js", offline.service_worker, name="service_worker"),
    path("api/mine.json", offline.mine, name="offline_mine"),
    path("api/device/", offline.device, name="offline_device"),
    path("targets/<int:pk>/", views.target_detail, name="target_detail"),
    path("targets/<int:pk>/visit/", views.visit_record, name="visit_record"),
    path("targets/<int:pk>/remove/", views.target_remove, name="target_remove"),
    path("v/<str:public_id>/", views.visit_detail, name="visit_detail"),
    path("v/<str:public_id>/edit/", views.visit_edit, name="visit_edit"),
    path("v/<str:public_id>/record.docx", views.visit_docx, name="visit_docx"),
    path("v/<str:public_id>/photos/<str:photo_id>/", views.visit_photo, name="visit_photo"),
    path("<str:public_id>/", views.campaign_detail, name="campaign_detail"),
    path("<str:public_id>/assign/", views.campaign_assign, name="campaign_assign"),
    path("<str:public_id>/not-visited.xlsx", views.not_visited_export, name="not_visited"),
    path("<str:public_id>/ledger.xlsx", views.campaign_ledger, name="ledger"),
    path("<str:public_id>/print/", views.campaign_print, name="print"),
]
