"""Declared payload fields of an endpoint: ``{"name": "type-name"}`` to and from FieldSpecs (pure).

An admin declares the fields of a custom endpoint's body as plain JSON, the form stored in
``Endpoint.declared_fields`` and accepted by the API::

    {"email": "email", "plan": "string?", "seats": "integer", "tags": "list(string)",
     "customer.name": "string"}

A trailing ``?`` makes a field optional. A dotted name declares a field of a nested object
(an open object: undeclared keys are kept). ``object`` is a free-form object. ``ref(<entity>)``
declares a Typewire entity id the sender carries (a Stripe customer's ``metadata.customer_id``),
so a rule can tag or update that customer; the engine checks at run time that it exists in the
workspace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from catalog.types import (
    ENTITIES,
    BooleanType,
    DatetimeType,
    DateType,
    DecimalType,
    DurationType,
    EmailType,
    FieldSpec,
    FieldType,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    PhoneType,
    RefType,
    StringType,
    TextType,
    UrlType,
)

__all__ = [
    "SCALAR_TYPES",
    "DeclarationError",
    "dump_declared",
    "parse_declared",
    "parse_type",
    "type_name",
]

SCALAR_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        StringType(),
        TextType(),
        EmailType(),
        PhoneType(),
        UrlType(),
        IntegerType(),
        DecimalType(),
        MoneyType(),
        BooleanType(),
        DatetimeType(),
        DateType(),
        DurationType(),
    )
}
"""The scalar type names an admin may declare, by name."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_LIST_RE = re.compile(r"^list\((?P<item>.+)\)$")
# A sender that knows Typewire's ids (from the entity API) can post them typed as references.
_REF_RE = re.compile(r"^ref\((?P<entity>[a-z]+)\)$")
MAX_FIELDS = 200


class DeclarationError(ValueError):
    """Declared fields that cannot be used; ``errors`` maps each bad name to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


def parse_type(text: str) -> FieldType:
    """Return the type named by ``text`` (``integer``, ``list(email)``, ``object``).

    Raises ValueError naming the allowed types for anything else.
    """
    name = text.strip()
    if name in SCALAR_TYPES:
        return SCALAR_TYPES[name]
    if name == "object":
        return ObjectType(is_open=True)
    if match := _LIST_RE.match(name):
        return ListType(parse_type(match["item"]))
    if (match := _REF_RE.match(name)) and match["entity"] in ENTITIES:
        return RefType(match["entity"])
    allowed = ", ".join([*SCALAR_TYPES, "object", "list(<type>)", "ref(<entity>)"])
    raise ValueError(f'unknown type "{name}"; use one of {allowed}')


def type_name(field_type: FieldType) -> str:
    """Return the declaration text of a type ``parse_type`` accepts (the inverse of it).

    Objects with declared members are rendered as ``object``; ``dump_declared`` flattens them.
    """
    if isinstance(field_type, ListType):
        return f"list({type_name(field_type.item)})"
    if isinstance(field_type, ObjectType):
        return "object"
    if isinstance(field_type, RefType):
        return f"ref({field_type.entity})"
    if field_type.name in SCALAR_TYPES:
        return field_type.name
    raise ValueError(f"{field_type.label} cannot be declared on an endpoint")


@dataclass
class _Node:
    """A nested object being built from dotted declarations."""

    spec: FieldSpec | None = None
    children: dict[str, _Node] | None = None


def parse_declared(data: object) -> dict[str, FieldSpec]:
    """Return the FieldSpecs of a declaration mapping; raise DeclarationError listing every problem.

    The result can be passed as ``declared`` to ``TriggerSpec.validate_payload``.
    """
    if not isinstance(data, Mapping):
        raise DeclarationError({"": "declared fields must be an object of name: type"})
    if len(data) > MAX_FIELDS:
        raise DeclarationError({"": f"at most {MAX_FIELDS} fields may be declared"})
    errors: dict[str, str] = {}
    root: dict[str, _Node] = {}
    for raw_name, raw_type in data.items():
        name = str(raw_name)
        parts = name.split(".")
        if not all(_NAME_RE.match(part) for part in parts):
            errors[name] = "a field name is letters, digits and _ (dots for nested fields)"
            continue
        if not isinstance(raw_type, str):
            errors[name] = 'the type must be a string such as "string" or "integer?"'
            continue
        is_optional = raw_type.strip().endswith("?")
        try:
            field_type = parse_type(raw_type.strip().removesuffix("?"))
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        level = root
        for part in parts[:-1]:
            node = level.setdefault(part, _Node())
            if node.spec is not None and not isinstance(node.spec.type, ObjectType):
                errors[name] = f'"{part}" is declared as {node.spec.type.label}, not an object'
                break
            node.children = node.children if node.children is not None else {}
            level = node.children
        else:
            node = level.setdefault(parts[-1], _Node())
            if node.children and not isinstance(field_type, ObjectType):
                errors[name] = "has nested fields declared, so its type must be object"
                continue
            node.spec = FieldSpec(field_type, is_optional)
    if errors:
        raise DeclarationError(errors)
    return _build(root)


def _build(level: Mapping[str, _Node]) -> dict[str, FieldSpec]:
    result: dict[str, FieldSpec] = {}
    for name, node in level.items():
        if node.children:
            members = tuple(_build(node.children).items())
            # An implicit parent ("customer" of "customer.email") is required when a child is.
            optional = (
                node.spec.optional
                if node.spec is not None
                else all(spec.optional for _, spec in members)
            )
            result[name] = FieldSpec(ObjectType(members, is_open=True), optional)
        else:
            assert node.spec is not None
            result[name] = node.spec
    return result


def dump_declared(specs: Mapping[str, FieldSpec], prefix: str = "") -> dict[str, str]:
    """Return the declaration mapping of FieldSpecs (nested objects become dotted names)."""
    result: dict[str, str] = {}
    for name, spec in specs.items():
        path = f"{prefix}{name}"
        suffix = "?" if spec.optional else ""
        if isinstance(spec.type, ObjectType) and spec.type.members:
            if spec.optional:
                result[path] = "object?"
            result.update(dump_declared(spec.type.fields, f"{path}."))
        else:
            result[path] = type_name(spec.type) + suffix
    return result
