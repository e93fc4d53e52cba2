from django.contrib.auth import views as auth_views
from django.urls import path

from baoxue.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("two-step/setup/", views.totp_setup, name="totp_setup"),
    path("two-step/", views.totp_verify, name="totp_verify"),
]
