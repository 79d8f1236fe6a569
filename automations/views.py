"""Rule pages: list, builder, detail (versions, dry-run), enable, duplicate, delete.

Every change goes through ``automations.services`` (the checker decides what is saved). The
Activity pages and the dashboard live in ``automations.views_activity``. Views
that answer htmx requests with a partial of the same page template vary on ``HX-Request``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts.access import ADMIN_AREA, MARKETER_AREA, WorkspaceRequest, workspace_view
from automations import builder, services
from automations.builder import BuilderState
from automations.forms import DryRunForm, RuleBuilder, state_for_rule, state_from_json
from automations.models import Rule, RuleVersion
from automations.versions import diff_definitions
from catalog.models import Event
from catalog.registry import registry
from webhooks import services as webhook_services
from webhooks.forms import DeclaredFieldsForm
from webhooks.views_ui import detail_context, get_endpoint

PAGE_SIZE = 25


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def can_change_rules(request: WorkspaceRequest) -> bool:
    """Return whether the member may change rules (marketers and admins)."""
    return MARKETER_AREA.allows(request.membership.role, "POST")


def _require_change(request: WorkspaceRequest) -> None:
    # The builder and confirmation pages are forms that change something: auditors get 403.
    if not can_change_rules(request):
        raise PermissionDenied("Your role cannot change rules.")


def _next_url(request: WorkspaceRequest) -> str:
    """Return the POSTed ``next`` page when it is on this site, else the rule list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return reverse("automations:rule-list")


def _rule(request: WorkspaceRequest, rule_id: int) -> Rule:
    return get_object_or_404(Rule, pk=rule_id, workspace=request.workspace)


@require_GET
@workspace_view(MARKETER_AREA)
def rule_list(request: WorkspaceRequest) -> HttpResponse:
    """List the workspace's rules with their sentence and whether they are on."""
    rules = Rule.objects.filter(workspace=request.workspace).order_by("name", "id")
    return render(
        request,
        "automations/rule_list.html",
        {"rules": rules, "can_change": can_change_rules(request)},
    )


def _builder_response(
    request: WorkspaceRequest,
    form: RuleBuilder,
    *,
    is_enabled: bool,
    rule: Rule | None,
    dry: dict[str, Any] | None = None,
) -> HttpResponse:
    context = {
        **form.context(),
        "rule": rule,
        "is_enabled": is_enabled,
        "form_url": request.path,
        **(dry or _draft_dry_run_context(request, form.state.trigger_key)),
    }
    template = "automations/rule_edit.html"
    if _is_htmx(request):
        template += "#draft-dry-run" if dry is not None else "#builder"
    return render(request, template, context)


def _draft_dry_run_context(
    request: WorkspaceRequest, trigger_key: str, data: Any = None
) -> dict[str, Any]:
    events = _recent_events(request, trigger_key)
    return {"dry_form": DryRunForm(data, events=events, prefix="dry"), "draft_trace": None}


def _dry_run_draft(
    request: WorkspaceRequest, form: RuleBuilder, rule: Rule | None
) -> dict[str, Any]:
    """Dry-run the builder's unsaved draft on the chosen sample; return the panel's context.

    Nothing is saved: a draft that fails the checker shows the checker's problems instead.
    """
    context = _draft_dry_run_context(request, form.state.trigger_key, request.POST)
    dry_form: DryRunForm = context["dry_form"]
    context.update(draft_trace=None, draft_error="", draft_problems=[])
    if not dry_form.is_valid():
        return context
    payload = _sample_payload(request, dry_form)
    try:
        # Nothing a dry run does may persist: roll back whatever a bug might write.
        with transaction.atomic():
            context["draft_trace"] = services.dry_run(
                workspace=request.workspace,
                definition=form.definition(),
                payload=payload,
                name=form.state.name or "Draft",
                rule=rule,
            )
            transaction.set_rollback(True)
    except services.RuleInvalid as exc:
        context["draft_problems"] = exc.problems
    except services.PayloadInvalid as exc:
        context["draft_error"] = _payload_error(exc)
    return context


def _sample_payload(request: WorkspaceRequest, form: DryRunForm) -> Any:
    """Return the payload the dry-run form picked: None (the example), an event's, or JSON."""
    source = form.cleaned_data["source"]
    if source == "event":
        event = Event.objects.filter(
            workspace=request.workspace, pk=form.cleaned_data["event"]
        ).first()
        return event.payload if event else None
    if source == "json":
        return form.cleaned_data["parsed"]
    return None


def _payload_error(exc: services.PayloadInvalid) -> str:
    return "The payload does not fit the trigger: " + "; ".join(
        f"{path or 'payload'}: {', '.join(msgs)}" for path, msgs in exc.fields.items()
    )


def _builder(request: WorkspaceRequest, rule: Rule | None) -> HttpResponse:
    _require_change(request)
    if request.method != "POST":
        state = state_for_rule(rule) if rule else BuilderState()
        is_enabled = rule.is_enabled if rule else True
        return _builder_response(
            request, RuleBuilder(request.workspace, state, rule), is_enabled=is_enabled, rule=rule
        )
    op = request.POST.get("op", "refresh")
    state = builder.parse_form(request.POST)
    is_enabled = request.POST.get("is_enabled") == "on"
    json_error = ""
    if op == "load-json":
        try:
            state = state_from_json(request.POST.get("definition_json", ""), state)
        except ValueError as exc:
            json_error = str(exc)
    elif op not in ("save", "dry-run"):
        state = builder.apply_op(state, op)
    form = RuleBuilder(request.workspace, state, rule)
    if op == "dry-run":
        dry = _dry_run_draft(request, form, rule)
        return _builder_response(request, form, is_enabled=is_enabled, rule=rule, dry=dry)
    if op == "save":
        saved = form.save(request.user, is_enabled=is_enabled)
        if saved is not None:
            verb = "created" if rule is None else "saved"
            messages.success(request, f"Rule '{saved.name}' {verb} (version {saved.version}).")
            url = reverse("automations:rule-detail", args=[saved.pk])
            return HttpResponseClientRedirect(url) if _is_htmx(request) else redirect(url)
    response = _builder_response(request, form, is_enabled=is_enabled, rule=rule)
    if json_error:
        messages.error(request, json_error)
    return response


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
@workspace_view(MARKETER_AREA)
def rule_new(request: WorkspaceRequest) -> HttpResponse:
    """The builder for a new rule; POST edits the form (``op``) or saves it through the checker."""
    return _builder(request, None)


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
@workspace_view(MARKETER_AREA)
def rule_edit(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """The builder for an existing rule; saving stores a new version."""
    return _builder(request, _rule(request, rule_id))


@require_GET
@workspace_view(MARKETER_AREA)
def condition_row(request: WorkspaceRequest) -> HttpResponse:
    """Return one condition row (``row``) with the operators and value input of its field.

    The builder sends the whole form, so the row is typed against the chosen trigger.
    """
    state = builder.parse_form(request.GET)
    prefix = request.GET.get("row", "")
    if not builder.CONDITION_PREFIX_RE.match(prefix):
        return HttpResponse(status=204)
    # The row may sit in a nested group: read its three widgets by its own prefix.
    row = builder.ConditionRow(
        prefix,
        request.GET.get(f"{prefix}-field", "").strip(),
        request.GET.get(f"{prefix}-operator", "").strip(),
        request.GET.get(f"{prefix}-value", "").strip(),
    )
    form = RuleBuilder(request.workspace, state)
    return render(
        request, "automations/rule_edit.html#condition-row", {"cond": form.condition_view(row)}
    )


@require_POST
@workspace_view(MARKETER_AREA)
def rule_sentence(request: WorkspaceRequest) -> HttpResponse:
    """Return the ``rule-sentence`` partial for the form as built so far."""
    state = builder.parse_form(request.POST)
    form = RuleBuilder(request.workspace, state)
    return render(
        request, "automations/rule_edit.html#rule-sentence", {"sentence": form.sentence()}
    )


def _version_rows(rule: Rule) -> list[dict[str, Any]]:
    versions = list(RuleVersion.objects.filter(rule=rule).select_related("author"))
    rows: list[dict[str, Any]] = []
    for index, version in enumerate(versions):  # newest first
        previous = versions[index + 1] if index + 1 < len(versions) else None
        changes = diff_definitions(previous.definition, version.definition) if previous else []
        rows.append(
            {
                "version": version,
                "changes": [c.as_dict() for c in changes],
                "is_current": version.number == rule.version,
            }
        )
    return rows


def _recent_events(request: WorkspaceRequest, trigger_key: str) -> list[tuple[str, str]]:
    if not trigger_key:
        return []
    events = Event.objects.filter(workspace=request.workspace, trigger_key=trigger_key).order_by(
        "-occurred_at"
    )[:20]
    return [(str(e.pk), f"{e.occurred_at:%Y-%m-%d %H:%M:%S} · {str(e.pk)[:8]}") for e in events]


@require_GET
@workspace_view(MARKETER_AREA)
def rule_detail(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Show a rule: its sentence, definition, versions with their changes, and dry-run."""
    rule = _rule(request, rule_id)
    trigger = (
        registry.get_trigger(rule.trigger_key) if registry.has_trigger(rule.trigger_key) else None
    )
    return render(
        request,
        "automations/rule_detail.html",
        {
            "rule": rule,
            "trigger": trigger,
            "versions": _version_rows(rule),
            "can_change": can_change_rules(request),
            "dry_run_form": DryRunForm(events=_recent_events(request, rule.trigger_key)),
        },
    )


@vary_on_headers("HX-Request")
@require_POST
@workspace_view(MARKETER_AREA)
def rule_toggle(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Switch a rule on (re-checked, cycles included) or off."""
    rule = _rule(request, rule_id)
    error = ""
    try:
        rule = services.set_enabled(rule=rule, enabled=not rule.is_enabled, actor=request.user)
    except services.RuleInvalid as exc:
        error = "; ".join(p.message for p in exc.problems)
    if _is_htmx(request):
        return render(
            request,
            "automations/rule_list.html#rule-row",
            {"rule": rule, "can_change": True, "row_error": error},
        )
    if error:
        messages.error(request, f"'{rule.name}' cannot be switched on: {error}")
    else:
        state = "on" if rule.is_enabled else "off"
        messages.success(request, f"'{rule.name}' is {state}.")
    return redirect(_next_url(request))


@vary_on_headers("HX-Request")
@require_POST
@workspace_view(MARKETER_AREA)
def rule_resume(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Lift a pause (breaker or spike) through the resume service; held executions then run."""
    rule = _rule(request, rule_id)
    was_paused = rule.is_paused
    result = services.resume_rule(rule=rule, actor=request.user)
    if _is_htmx(request):
        return render(
            request,
            "automations/rule_list.html#rule-row",
            {"rule": result.rule, "can_change": True},
        )
    if was_paused:
        held = len(result.released)
        messages.success(
            request,
            f"'{rule.name}' resumed; {held} held execution{'s' if held != 1 else ''} released.",
        )
    else:
        messages.info(request, f"'{rule.name}' was not paused.")
    return redirect(_next_url(request))


@require_POST
@workspace_view(MARKETER_AREA)
def rule_duplicate(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Copy a rule (switched off) and open the copy in the builder."""
    rule = _rule(request, rule_id)
    try:
        copy = services.duplicate_rule(rule=rule, author=request.user)
    except services.RuleInvalid as exc:
        messages.error(request, "The copy fails the checks: " + exc.problems[0].message)
        return redirect("automations:rule-detail", rule.pk)
    messages.success(request, f"Copied to '{copy.name}' (switched off).")
    return redirect("automations:rule-edit", copy.pk)


@require_http_methods(["GET", "POST"])
@workspace_view(MARKETER_AREA)
def rule_delete(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Ask for confirmation, then delete a rule with its versions and executions."""
    rule = _rule(request, rule_id)
    _require_change(request)
    if request.method == "POST":
        name = rule.name
        services.delete_rule(rule=rule, actor=request.user)
        messages.success(request, f"Rule '{name}' deleted.")
        return redirect("automations:rule-list")
    return render(request, "automations/rule_delete.html", {"rule": rule})


@require_POST
@workspace_view(MARKETER_AREA)
def rule_rollback(request: WorkspaceRequest, rule_id: int, number: int) -> HttpResponse:
    """Restore an earlier version as a new version (re-checked)."""
    rule = _rule(request, rule_id)
    get_object_or_404(RuleVersion, rule=rule, number=number)
    try:
        rule = services.rollback(rule=rule, number=number, author=request.user)
    except services.RuleInvalid as exc:
        messages.error(
            request, f"Version {number} no longer passes the checks: {exc.problems[0].message}"
        )
    else:
        messages.success(request, f"Rolled back to version {number}, saved as {rule.version}.")
    return redirect("automations:rule-detail", rule.pk)


@vary_on_headers("HX-Request")
@require_POST
@workspace_view(MARKETER_AREA)
def rule_dry_run(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    """Run the saved rule on a sample payload and show the trace; nothing is done."""
    rule = _rule(request, rule_id)
    form = DryRunForm(request.POST, events=_recent_events(request, rule.trigger_key))
    trace: dict[str, Any] | None = None
    error = ""
    if form.is_valid():
        payload = _sample_payload(request, form)
        try:
            trace = services.dry_run(
                workspace=request.workspace,
                definition=rule.definition,
                payload=payload,
                name=rule.name,
            )
        except services.PayloadInvalid as exc:
            error = _payload_error(exc)
        except services.RuleInvalid as exc:
            error = "The rule no longer passes the checks: " + exc.problems[0].message
    context = {"rule": rule, "dry_run_form": form, "trace": trace, "dry_run_error": error}
    template = "automations/rule_detail.html"
    if _is_htmx(request):
        return render(request, template + "#dry-run", context)
    context.update(
        trigger=registry.get_trigger(rule.trigger_key)
        if registry.has_trigger(rule.trigger_key)
        else None,
        versions=_version_rows(rule),
        can_change=can_change_rules(request),
    )
    return render(request, template, context)


@require_POST
@workspace_view(ADMIN_AREA)
def endpoint_fields(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Replace an endpoint's declared fields (typed by hand or accepted from a capture).

    The rules side guards the change: rules it would break are listed and need a confirmation,
    then they are switched off with the reason (as the API does).
    """
    endpoint = get_endpoint(request, endpoint_id)
    from_capture = request.POST.get("source") == "capture"
    form = DeclaredFieldsForm(request.POST, prefix="capture" if from_capture else None)
    form_key = "capture_form" if from_capture else "fields_form"
    if not form.is_valid():
        context = detail_context(request, endpoint, **{form_key: form})
        return render(request, "webhooks/endpoint_detail.html", context)
    declared: dict[str, str] = form.cleaned_data["declared"]
    impacts = []
    if declared != (endpoint.declared_fields or {}):
        impacts = services.endpoint_fields_impact(endpoint, declared)
    if impacts and request.POST.get("confirm") != "yes":
        context = detail_context(
            request, endpoint, impacts=impacts, impact_source=form_key, **{form_key: form}
        )
        return render(request, "webhooks/endpoint_detail.html", context)
    with transaction.atomic():
        webhook_services.accept_capture(
            endpoint=endpoint,
            declared=declared,
            keep_capturing=endpoint.capture_mode and not from_capture,
            actor=request.user,
        )
        disabled = services.disable_broken(
            impacts, f"Endpoint '{endpoint.name}' changed its fields"
        )
    text = f"Declared fields of '{endpoint.name}' saved."
    if disabled:
        text += " Switched off: " + ", ".join(f"'{r.name}'" for r in disabled) + "."
    messages.success(request, text)
    return redirect("webhooks:endpoint-detail", endpoint.pk)
