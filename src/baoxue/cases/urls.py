from django.urls import path

from baoxue.cases import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("mine/", views.caseload, name="mine"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("exports/", views.export_create, name="export"),
    path("exports/<str:public_id>/", views.export_detail, name="export_detail"),
    path("exports/<str:public_id>/ledger.xlsx", views.export_download, name="export_download"),
    path("bulk-assign/", views.bulk_assign, name="bulk_assign"),
    path("handover/", views.handover, name="handover"),
    path("open/<str:child_id>/", views.case_open, name="open"),
    path("<str:public_id>/", views.case_detail, name="detail"),
    path("<str:public_id>/move/", views.case_move, name="move"),
    path("<str:public_id>/assign/", views.case_assign, name="assign"),
    path("<str:public_id>/attempt/", views.case_attempt, name="attempt"),
    path("<str:public_id>/document/", views.case_document, name="document"),
    path("<str:public_id>/plan/", views.case_plan, name="plan"),
    path("<str:public_id>/follow-up/<int:pk>/", views.case_follow_up, name="follow_up"),
    path("<str:public_id>/attachments/", views.case_attachment_add, name="attachment_add"),
    path(
        "<str:public_id>/attachments/<str:attachment_id>/",
        views.case_attachment,
        name="attachment",
    ),
    path("<str:public_id>/notice/<str:kind>.docx", views.case_notice, name="notice"),
    path("<str:public_id>/file.docx", views.case_file, name="file"),
]
