"""URLs of the endpoint pages (the inbound hook itself is ``webhook-receive`` in config.urls)."""

from __future__ import annotations

from django.urls import path

from webhooks import views_ui

app_name = "webhooks"
urlpatterns = [
    path("endpoints/", views_ui.endpoint_list, name="endpoint-list"),
    path("endpoints/<int:endpoint_id>/", views_ui.endpoint_detail, name="endpoint-detail"),
    path(
        "endpoints/<int:endpoint_id>/deliveries/",
        views_ui.endpoint_deliveries,
        name="endpoint-deliveries",
    ),
    path("endpoints/<int:endpoint_id>/rotate/", views_ui.endpoint_rotate, name="endpoint-rotate"),
    path(
        "endpoints/<int:endpoint_id>/capture/", views_ui.endpoint_capture, name="endpoint-capture"
    ),
    path(
        "endpoints/<int:endpoint_id>/test-event/",
        views_ui.endpoint_test_event,
        name="endpoint-test-event",
    ),
]
