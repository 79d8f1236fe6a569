"""URLs of ops: health checks and the home page."""

from __future__ import annotations

from django.urls import path

from ops import views

app_name = "ops"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
