from django.urls import path

from baoxue.reconcile import views

app_name = "reconcile"
urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("review/", views.review_list, name="review_list"),
    path("review/<int:pk>/", views.review_decide, name="review_decide"),
    path("merges/<str:public_id>/undo/", views.merge_undo, name="merge_undo"),
    path("<str:public_id>/", views.run_detail, name="run_detail"),
    path("<str:public_id>/ledger/<str:kind>.xlsx", views.ledger, name="ledger"),
]
