"""Django admin for rules (superusers): saving goes through the same checker as the API and UI."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from automations import services
from automations.models import Execution, Rule, RuleVersion


class RuleAdminForm(forms.ModelForm[Rule]):
    """The rule's definition as JSON, checked by ``check_rule`` before anything is saved."""

    class Meta:
        model = Rule
        fields = ["workspace", "name", "description", "is_enabled", "definition"]

    def clean(self) -> dict[str, Any]:
        """Run the checker; each problem becomes a form error in the checker's words."""
        data = super().clean() or {}
        workspace, definition = data.get("workspace"), data.get("definition")
        if workspace is None or definition is None:
            return data
        try:
            services.check_definition(
                workspace,
                definition,
                name=data.get("name") or "",
                rule=self.instance if self.instance.pk else None,
            )
        except services.RuleInvalid as exc:
            raise forms.ValidationError(
                [f"{p.path}: {p.message} {p.hint}".strip() for p in exc.problems]
            ) from exc
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin[Rule]):
    """Rules; saves create a new version through ``services.save_rule``."""

    form = RuleAdminForm
    list_display = ["name", "workspace", "trigger_key", "is_enabled", "version", "updated_at"]
    list_filter = ["is_enabled", "trigger_key"]
    search_fields = ["name", "sentence"]
    readonly_fields = ["sentence", "version", "disabled_reason"]

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        """Save through the service so the rule is versioned like any other save."""
        saved = services.save_rule(
            workspace=form.cleaned_data["workspace"],
            author=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description", ""),
            definition=form.cleaned_data["definition"],
            is_enabled=form.cleaned_data.get("is_enabled", False),
            rule=obj if change else None,
            note="Saved in the admin",
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        """Delete through the service, so the audit log records it."""
        services.delete_rule(rule=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        """Delete each selected rule through the service (one audit entry each)."""
        for rule in queryset:
            services.delete_rule(rule=rule, actor=request.user)


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin[RuleVersion]):
    """Rule versions, read-only."""

    list_display = ["rule", "number", "author", "created_at", "note"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Versions are history: never edited."""
        return False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin[Execution]):
    """Executions, read-only (replay lives in the API and the UI)."""

    list_display = ["id", "rule", "status", "created_at", "finished_at"]
    list_filter = ["status"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Executions are records of what happened: never edited here."""
        return False
