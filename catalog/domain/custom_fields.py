"""The typed, writable fields of a customer: profile fields and the workspace's custom fields.

``update_customer_field`` (and the ``update_field`` action) accept a field name and a value;
this module says which names exist and which catalog field type their values have, and turns a
raw value into its validated JSON form, or a ``ValidationError`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from accounts.models import Workspace
from catalog import types
from catalog.domain.models import Channel, CustomFieldDefinition, CustomFieldType, LifecycleStage

# Profile fields a service may set by name. Strings may be cleared with None (stored as "");
# lifecycle stage and opt-ins always have a value. Derived fields (order_count, total_spent,
# last_order_at) are written by the order services only.
PROFILE_FIELD_TYPES: dict[str, types.FieldType] = {
    "email": types.email(),
    "phone": types.phone(),
    "first_name": types.string(),
    "last_name": types.string(),
    "source": types.string(),
    "lifecycle_stage": types.enum_of(*LifecycleStage.values),
    **{f"{channel}_opt_in": types.boolean() for channel in Channel.values},
}
CLEARABLE_PROFILE_FIELDS = frozenset({"email", "phone", "first_name", "last_name", "source"})
# Keys are path segments of conditions and templates (customer.app_install_date).
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Names a custom field may not take: they would shadow a profile or derived field.
RESERVED_KEYS = frozenset(
    {
        *PROFILE_FIELD_TYPES,
        "id",
        "customer_id",
        "workspace",
        "tags",
        "segments",
        "order_count",
        "total_spent",
        "currency",
        "last_order_at",
        "custom_values",
        "external_id",
        "created_at",
        "updated_at",
    }
)


def custom_field_type(definition: CustomFieldDefinition) -> types.FieldType:
    """Return the catalog field type of a custom field definition."""
    return type_for(CustomFieldType(definition.field_type), definition.enum_values)


def type_for(field_type: CustomFieldType, enum_values: Sequence[str] = ()) -> types.FieldType:
    """Return the catalog field type named by ``field_type`` (``enum`` needs its values)."""
    if field_type == CustomFieldType.ENUM:
        return types.enum_of(*enum_values)
    constructors: dict[CustomFieldType, Callable[[], types.FieldType]] = {
        CustomFieldType.STRING: types.string,
        CustomFieldType.TEXT: types.text,
        CustomFieldType.EMAIL: types.email,
        CustomFieldType.PHONE: types.phone,
        CustomFieldType.URL: types.url,
        CustomFieldType.INTEGER: types.integer,
        CustomFieldType.DECIMAL: types.decimal,
        CustomFieldType.BOOLEAN: types.boolean,
        CustomFieldType.DATETIME: types.datetime,
        CustomFieldType.DATE: types.date,
    }
    return constructors[field_type]()


def get_custom_field(workspace: Workspace, key: str) -> CustomFieldDefinition | None:
    """Return the workspace's custom field ``key``, or None."""
    return CustomFieldDefinition.objects.filter(workspace=workspace, key=key).first()


def get_customer_field_type(workspace: Workspace, field: str) -> types.FieldType | None:
    """Return the type of the customer field ``field`` (profile or custom), or None if unknown."""
    if field in PROFILE_FIELD_TYPES:
        return PROFILE_FIELD_TYPES[field]
    definition = get_custom_field(workspace, field)
    return custom_field_type(definition) if definition else None


def validate_custom_value(definition: CustomFieldDefinition, value: object) -> types.JSONValue:
    """Return the normalized JSON form of ``value`` for the custom field; None clears it.

    Raises the catalog ``ValidationError`` with one ``FieldError`` whose path is the field's key
    (``app_install_date: expected a date (YYYY-MM-DD), got "yesterday"``).
    """
    if value is None:
        return None
    return custom_field_type(definition).validate(value, definition.key)


def validate_profile_value(field: str, value: object) -> types.JSONValue:
    """Return the normalized value of profile field ``field``; "" for a cleared string field.

    Raises ``KeyError`` for a name that is not a profile field and the catalog
    ``ValidationError`` (path: the field name) for a value of the wrong type.
    """
    field_type = PROFILE_FIELD_TYPES[field]
    if field in CLEARABLE_PROFILE_FIELDS and value in (None, ""):
        return ""
    return field_type.validate(value, field)


def validate_definition(
    *, workspace: Workspace, key: str, field_type: str, enum_values: Sequence[str]
) -> None:
    """Raise the catalog ``ValidationError`` listing every problem of a new custom field."""
    errors: list[types.FieldError] = []
    if not KEY_PATTERN.match(key):
        errors.append(
            types.FieldError(
                "key", "use lower-case letters, digits and underscores, starting with a letter"
            )
        )
    elif key in RESERVED_KEYS:
        errors.append(types.FieldError("key", f'"{key}" is a built-in customer field'))
    elif CustomFieldDefinition.objects.filter(workspace=workspace, key=key).exists():
        errors.append(types.FieldError("key", f'a custom field "{key}" already exists'))
    if field_type not in CustomFieldType.values:
        choices = ", ".join(CustomFieldType.values)
        errors.append(types.FieldError("field_type", f"expected one of {choices}"))
    elif field_type == CustomFieldType.ENUM and not enum_values:
        errors.append(types.FieldError("enum_values", "an enum field needs at least one value"))
    elif field_type != CustomFieldType.ENUM and enum_values:
        errors.append(types.FieldError("enum_values", "only an enum field takes values"))
    if errors:
        raise types.ValidationError(errors)
