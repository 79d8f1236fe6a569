"""Typewire's URL map: pages, the REST API under /api/v1/, OpenAPI, health checks."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts import api as accounts_api
from accounts.access import READ_ONLY_AREA, mark_access
from automations import api as automations_api
from automations import api_executions
from automations.api_metrics import MetricSampleView
from catalog.api import catalog as catalog_api
from catalog.api import entities as entities_api
from config.bench import bench_urlpatterns
from webhooks import api as webhooks_api
from webhooks.views import receive_hook

router = DefaultRouter()
router.register("workspaces", accounts_api.WorkspaceViewSet, basename="workspace")
router.register("members", accounts_api.MemberViewSet, basename="member")
router.register("audit-log", accounts_api.AuditEntryViewSet, basename="audit-entry")
router.register("catalog/triggers", catalog_api.TriggerCatalogViewSet, basename="catalog-trigger")
router.register("catalog/actions", catalog_api.ActionCatalogViewSet, basename="catalog-action")
router.register("rules", automations_api.RuleViewSet, basename="rule")
router.register("customers", entities_api.CustomerViewSet, basename="customer")
router.register("products", entities_api.ProductViewSet, basename="product")
router.register("orders", entities_api.OrderViewSet, basename="order")
# The rules side guards deletion of a custom field (it lists and disables the rules it breaks).
router.register("custom-fields", automations_api.CustomFieldViewSet, basename="custom-field")
# The rules side guards changes of declared fields (it lists and disables the rules they break).
router.register("endpoints", automations_api.EndpointViewSet, basename="endpoint")
router.register("deliveries", webhooks_api.DeliveryViewSet, basename="delivery")
router.register("executions", api_executions.ExecutionViewSet, basename="execution")
router.register("events", api_executions.EventViewSet, basename="event")
router.register(
    "disabled-targets", api_executions.DisabledTargetViewSet, basename="disabled-target"
)

# The schema and its docs describe the API to any member; they expose no workspace data.
schema_view = SpectacularAPIView.as_view()
docs_view = SpectacularSwaggerView.as_view(url_name="schema")
for _view in (schema_view, docs_view):
    mark_access(_view, READ_ONLY_AREA)
mark_access(router.APIRootView, READ_ONLY_AREA)

urlpatterns = [
    path("", include("ops.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("automations.urls")),
    path("", include("catalog.urls")),
    path("", include("webhooks.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", accounts_api.TokenView.as_view(), name="api-token"),
    path("api/v1/metrics/<str:name>/", MetricSampleView.as_view(), name="metric-sample"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", schema_view, name="schema"),
    path("api/docs/", docs_view, name="api-docs"),
    path("hooks/<str:token>", receive_hook, name="webhook-receive"),
    # Empty unless TYPEWIRE_BENCH=1: the bare DRF baseline of bench/ingest.py.
    *bench_urlpatterns(),
]
