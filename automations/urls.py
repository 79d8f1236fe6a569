"""URLs of the rule pages and the Activity page."""

from __future__ import annotations

from django.urls import path

from automations import views

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
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path(
        "rules/<int:rule_id>/versions/<int:number>/rollback/",
        views.rule_rollback,
        name="rule-rollback",
    ),
    path("rules/<int:rule_id>/dry-run/", views.rule_dry_run, name="rule-dry-run"),
    path("activity/", views.activity, name="activity"),
    # The rules side guards changes of an endpoint's declared fields (see the view).
    path("endpoints/<int:endpoint_id>/fields/", views.endpoint_fields, name="endpoint-fields"),
]
