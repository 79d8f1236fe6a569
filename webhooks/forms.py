"""Forms of the endpoint pages: create an endpoint, declare its fields."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from webhooks.fields import DeclarationError, parse_declared
from webhooks.models import Preset
from webhooks.presets import get_preset
from webhooks.verifiers import Scheme

SCHEME_WORDS = {
    Scheme.HMAC.value: "HMAC signature in a header",
    Scheme.BEARER.value: "Bearer token",
    Scheme.STANDARD_WEBHOOKS.value: "Standard Webhooks",
}


def parse_declaration_text(text: str) -> dict[str, str]:
    """Return ``{name: type}`` from ``name: type`` lines or a JSON object.

    Raises ValueError naming the first line that is neither.
    """
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("Give a JSON object of name to type.")
        return {str(k): str(v) for k, v in data.items()}
    declared: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, type_text = line.partition(":")
        if not colon or not name.strip() or not type_text.strip():
            raise ValueError(f"Line {number} is not 'name: type': {line!r}.")
        declared[name.strip()] = type_text.strip()
    return declared


def declaration_text(declared: dict[str, str]) -> str:
    """Return a declaration mapping as ``name: type`` lines (the inverse of parsing)."""
    return "\n".join(f"{name}: {type_text}" for name, type_text in declared.items())


class DeclaredFieldsForm(forms.Form):
    """The endpoint's declared body fields, one ``name: type`` per line (or JSON)."""

    declared = forms.CharField(
        required=False,
        label="Declared fields",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="One per line: name: type (string, email, integer, decimal, money, boolean, "
        "datetime, date, url, list(string), object; add ? for optional; a.b for nested).",
    )

    def clean_declared(self) -> dict[str, str]:
        """Parse and validate the declaration."""
        try:
            declared = parse_declaration_text(self.cleaned_data.get("declared") or "")
            parse_declared(declared)
        except DeclarationError as exc:
            raise forms.ValidationError(
                [f"{name}: {message}" for name, message in exc.errors.items()]
            ) from exc
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return declared


class EndpointCreateForm(forms.Form):
    """A new endpoint: its name, provider preset and (for custom senders) signature scheme."""

    name = forms.CharField(max_length=120)
    preset = forms.ChoiceField(choices=Preset.choices, initial=Preset.STANDARD_WEBHOOKS)
    scheme = forms.ChoiceField(
        required=False,
        choices=[("", "The preset's scheme"), *SCHEME_WORDS.items()],
        label="Signature (custom senders)",
    )
    hmac_header = forms.CharField(
        required=False, initial="X-Signature", label="Signature header (HMAC)", max_length=100
    )
    declared = forms.CharField(
        required=False,
        label="Declared fields (optional)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One per line: name: type. You can also capture a sample later.",
    )

    def clean(self) -> dict[str, Any]:
        """Check the scheme fits the preset and the declaration parses."""
        data = super().clean() or {}
        preset_key = data.get("preset")
        if not preset_key:
            return data
        preset = get_preset(preset_key)
        scheme = data.get("scheme") or preset.scheme.value
        if scheme not in [s.value for s in preset.allowed_schemes]:
            allowed = ", ".join(SCHEME_WORDS.get(s.value, s.value) for s in preset.allowed_schemes)
            self.add_error("scheme", f"The {preset.label} preset signs with: {allowed}.")
        data["scheme"] = scheme
        options: dict[str, str] = {}
        if scheme == Scheme.HMAC.value:
            header = (data.get("hmac_header") or "").strip()
            if not header:
                self.add_error("hmac_header", "Name the header that carries the signature.")
            options = {"header": header}
        data["scheme_options"] = options
        try:
            declared = parse_declaration_text(data.get("declared") or "")
            parse_declared(declared)
        except DeclarationError as exc:
            self.add_error(
                "declared", [f"{name}: {message}" for name, message in exc.errors.items()]
            )
        except ValueError as exc:
            self.add_error("declared", str(exc))
        else:
            data["declared_fields"] = declared
        return data
