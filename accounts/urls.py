"""URLs of the accounts pages."""

from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("workspace/", views.switch_workspace, name="workspace-switch"),
    path("settings/members/", views.member_list, name="member-list"),
    path("settings/members/<int:member_id>/", views.member_edit, name="member-edit"),
]
