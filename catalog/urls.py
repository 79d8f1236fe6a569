"""URLs of the catalog pages."""

from __future__ import annotations

from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("catalog/", views.catalog_index, name="index"),
]
