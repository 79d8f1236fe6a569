"""URLs of the rule pages, the Activity pages (executions, deliveries) and the dashboard."""

from __future__ import annotations

from django.urls import path

from automations import views, views_activity

app_name = "automations"
urlpatterns = [
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/new/", views.rule_new, name="rule-new"),
    path("rules/builder/condition-row/", views.condition_row, name="condition-row"),
    path("rules/builder/sentence/", views.rule_sentence, name="rule-sentence"),
    path("rules/<int:rule_id>/", views.rule_detail, name="rule-detail"),
    path("rules/<int:rule_id>/edit/", views.rule_edit, name="rule-edit"),
    path("rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("rules/<int:rule_id>/duplicate/", views.rule_duplicate, name="rule-duplicate"),
    path("rules/<int:rule_id>/resume/", views.rule_resume, name="rule-resume"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path(
        "rules/<int:rule_id>/versions/<int:number>/rollback/",
        views.rule_rollback,
        name="rule-rollback",
    ),
    path("rules/<int:rule_id>/dry-run/", views.rule_dry_run, name="rule-dry-run"),
    path("activity/", views_activity.activity, name="activity"),
    path(
        "executions/<int:execution_id>/",
        views_activity.execution_detail,
        name="execution-detail",
    ),
    path(
        "executions/<int:execution_id>/replay/",
        views_activity.execution_replay,
        name="execution-replay",
    ),
    path("dashboard/", views_activity.dashboard, name="dashboard"),
    # The rules side guards changes of an endpoint's declared fields (see the view).
    path("endpoints/<int:endpoint_id>/fields/", views.endpoint_fields, name="endpoint-fields"),
]
