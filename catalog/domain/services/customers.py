"""Customer services: create, update a profile or custom field, lifecycle, opt-ins and tags."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Workspace
from catalog import types
from catalog.domain.custom_fields import (
    PROFILE_FIELD_TYPES,
    get_custom_field,
    validate_custom_value,
    validate_definition,
    validate_profile_value,
)
from catalog.domain.models import (
    Channel,
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
)
from catalog.domain.services.guards import DomainError, relock
from catalog.events import Causation, record_event
from catalog.sql import execute_prepared

TAG_MAX_LENGTH = 100


def create_customer(
    *,
    workspace: Workspace,
    email: str,
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    source: str = "",
    lifecycle_stage: str = LifecycleStage.LEAD,
    email_opt_in: bool = False,
    sms_opt_in: bool = False,
    whatsapp_opt_in: bool = False,
    custom_values: Mapping[str, object] | None = None,
    external_id: str = "",
    causation: Causation | None = None,
) -> Customer:
    """Create a customer profile and emit ``customer_created``; an email is required.

    Every profile and custom value is validated against its type first; the catalog
    ``ValidationError`` lists every problem (path: the field name), and nothing is saved.
    """
    profile: dict[str, object] = {
        "email": email,
        "phone": phone,
        "first_name": first_name,
        "last_name": last_name,
        "source": source,
        "lifecycle_stage": lifecycle_stage,
        "email_opt_in": email_opt_in,
        "sms_opt_in": sms_opt_in,
        "whatsapp_opt_in": whatsapp_opt_in,
    }
    errors: list[types.FieldError] = []
    clean: dict[str, Any] = {}
    for field, value in profile.items():
        try:
            clean[field] = validate_profile_value(field, value)
        except types.ValidationError as error:
            errors.extend(error.errors)
    with transaction.atomic():
        clean_custom: dict[str, types.JSONValue] = {}
        for key, value in (custom_values or {}).items():
            try:
                clean_custom[key] = _validate_custom(workspace, key, value)
            except types.ValidationError as error:
                errors.extend(error.errors)
        if clean.get("email") == "" and not any(e.path == "email" for e in errors):
            errors.append(types.FieldError("email", "a new customer needs an email address"))
        elif (
            clean.get("email")
            and Customer.objects.filter(workspace=workspace, email=clean["email"]).exists()
        ):
            errors.append(types.FieldError("email", "a customer with this email already exists"))
        if errors:
            raise types.ValidationError(errors)
        customer = Customer.objects.create(
            workspace=workspace,
            custom_values={k: v for k, v in clean_custom.items() if v is not None},
            external_id=external_id,
            **clean,
        )
        payload: dict[str, object] = {
            "customer_id": customer.pk,
            "email": customer.email,
            "phone": customer.phone or None,
            "source": customer.source,
        }
        record_event(
            workspace=workspace,
            trigger_key="customer_created",
            payload=payload,
            causation=causation,
        )
    return customer


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """The customer an upsert found or created, whether it was new, and the fields it changed."""

    customer: Customer
    created: bool
    changed_fields: tuple[str, ...] = ()


def upsert_customer(
    *,
    workspace: Workspace,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    source: str = "",
    email_opt_in: bool | None = None,
    causation: Causation | None = None,
) -> UpsertResult:
    """Find the workspace's customer with ``email`` (any letter case) and update it, or create it.

    A new customer gets every given value and emits ``customer_created``. For a known one,
    only given values (non-empty names and phone, a non-None opt-in) that differ are set, in
    one ``customer_updated`` listing every changed field, plus ``opt_in_changed`` when the
    email opt-in changed; ``source`` is kept (it says where the customer first came from).
    Nothing changed emits nothing. Values are validated as profile fields first (the catalog
    ``ValidationError`` names each bad one). Two upserts of one new email at once create one
    customer: the second finds the first's row and updates it.
    """
    given: dict[str, object] = {"first_name": first_name, "last_name": last_name, "phone": phone}
    errors: list[types.FieldError] = []
    clean: dict[str, Any] = {}
    for field, value in {"email": email, **given, "source": source}.items():
        try:
            clean[field] = validate_profile_value(field, value)
        except types.ValidationError as error:
            errors.extend(error.errors)
    if not errors and not clean["email"]:
        errors.append(types.FieldError("email", "an email address is required"))
    if errors:
        raise types.ValidationError(errors)
    with transaction.atomic():
        existing = _by_email(workspace, clean["email"], for_update=True)
        if existing is None:
            try:
                with transaction.atomic():  # a savepoint: a concurrent insert only undoes this
                    customer = create_customer(
                        workspace=workspace,
                        email=clean["email"],
                        phone=clean["phone"],
                        first_name=clean["first_name"],
                        last_name=clean["last_name"],
                        source=clean["source"],
                        email_opt_in=bool(email_opt_in),
                        causation=causation,
                    )
                return UpsertResult(customer=customer, created=True)
            except (IntegrityError, types.ValidationError):
                # Another upsert created this email since the lookup: update theirs instead.
                existing = _by_email(workspace, clean["email"], for_update=True)
                if existing is None:
                    raise
        wanted: dict[str, object] = {field: clean[field] for field in given if clean[field] != ""}
        if email_opt_in is not None:
            wanted["email_opt_in"] = bool(email_opt_in)
        changed = {f: v for f, v in wanted.items() if getattr(existing, f) != v}
        if not changed:
            return UpsertResult(customer=existing, created=False)
        old = {field: getattr(existing, field) for field in changed}
        for field, value in changed.items():
            setattr(existing, field, value)
        existing.save(update_fields=[*changed, "updated_at"])
        names = list(changed)
        _record(
            existing,
            "customer_updated",
            {"changed_fields": names, "old_values": old, "new_values": changed},
            causation,
        )
        if "email_opt_in" in changed:
            action = "opted_in" if changed["email_opt_in"] else "opted_out"
            _record(existing, "opt_in_changed", {"channel": "email", "action": action}, causation)
    return UpsertResult(customer=existing, created=False, changed_fields=tuple(names))


def _by_email(workspace: Workspace, email: str, *, for_update: bool) -> Customer | None:
    """Return the workspace's customer with ``email`` in any letter case (oldest first)."""
    rows = Customer.objects.filter(workspace=workspace, email__iexact=email).order_by("pk")
    if for_update:
        rows = rows.select_for_update()
    return rows.first()


def update_customer_field(
    *,
    customer: Customer,
    field: str,
    value: object,
    causation: Causation | None = None,
) -> Customer:
    """Set one profile or custom field; return the updated customer (a fresh, saved row).

    Emits ``customer_updated`` (changed_fields, old_values, new_values), then
    ``lifecycle_changed`` for ``lifecycle_stage`` or ``opt_in_changed`` for ``<channel>_opt_in``.
    Setting the value the field already has changes and emits nothing. A value of the wrong
    type, or an unknown field, raises the catalog ``ValidationError`` naming the field, and
    nothing is saved.
    """
    with transaction.atomic():
        locked = relock(customer)
        if field in PROFILE_FIELD_TYPES:
            new = validate_profile_value(field, value)
            old = getattr(locked, field)
            if old == new:
                return locked
            if field == "email" and new and _email_taken(locked, str(new)):
                raise types.ValidationError(
                    [types.FieldError("email", "a customer with this email already exists")]
                )
            setattr(locked, field, new)
            locked.save(update_fields=[field, "updated_at"])
        else:
            new = _validate_custom(locked.workspace, field, value)
            old = locked.custom_values.get(field)
            if old == new:
                return locked
            if new is None:
                locked.custom_values.pop(field, None)
            else:
                locked.custom_values[field] = new
            locked.save(update_fields=["custom_values", "updated_at"])
        _record(
            locked,
            "customer_updated",
            {"changed_fields": [field], "old_values": {field: old}, "new_values": {field: new}},
            causation,
        )
        if field == "lifecycle_stage":
            _record(locked, "lifecycle_changed", {"from_stage": old, "to_stage": new}, causation)
        elif field.endswith("_opt_in"):
            channel = field.removesuffix("_opt_in")
            action = "opted_in" if new else "opted_out"
            _record(locked, "opt_in_changed", {"channel": channel, "action": action}, causation)
    return locked


def change_lifecycle_stage(
    *, customer: Customer, stage: str, causation: Causation | None = None
) -> Customer:
    """Move the customer to ``stage``: ``update_customer_field`` on ``lifecycle_stage``.

    Emits ``customer_updated`` then ``lifecycle_changed`` (nothing when already there).
    """
    return update_customer_field(
        customer=customer, field="lifecycle_stage", value=stage, causation=causation
    )


def set_opt_in(
    *, customer: Customer, channel: str, opted_in: bool, causation: Causation | None = None
) -> Customer:
    """Opt the customer in to (or out of) ``channel``: ``update_customer_field`` on the opt-in.

    Emits ``customer_updated`` then ``opt_in_changed`` (nothing when unchanged). Raises
    ``ValueError`` for an unknown channel.
    """
    field = f"{Channel(channel).value}_opt_in"
    return update_customer_field(
        customer=customer, field=field, value=opted_in, causation=causation
    )


def tag_customer(*, customer: Customer, tag: str, causation: Causation | None = None) -> bool:
    """Add ``tag`` to the customer; return whether it was added.

    Emits ``customer_tagged`` (action ``added``) only when the tag is new: tagging a customer
    who already has the tag changes nothing and emits nothing.
    """
    tag = _clean_tag(tag)
    # No savepoint inside a caller's transaction (the engine's step): nothing here is meant to
    # fail and be caught, and a database error fails the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        created = _add_tag(customer, tag)
        if created:
            _record(customer, "customer_tagged", {"tag": tag, "action": "added"}, causation)
    return created


def untag_customer(*, customer: Customer, tag: str, causation: Causation | None = None) -> bool:
    """Remove ``tag`` from the customer; return whether it was there.

    Emits ``customer_tagged`` (action ``removed``) only when a tag was removed.
    """
    tag = _clean_tag(tag)
    with transaction.atomic():
        locked = relock(customer)
        deleted, _ = CustomerTag.objects.filter(customer=locked, tag=tag).delete()
        if deleted:
            _record(locked, "customer_tagged", {"tag": tag, "action": "removed"}, causation)
    return bool(deleted)


def define_custom_field(
    *,
    workspace: Workspace,
    key: str,
    label: str,
    field_type: str,
    enum_values: Sequence[str] = (),
) -> CustomFieldDefinition:
    """Add a typed custom field to the workspace's customers (no event: no trigger for it).

    Raises the catalog ``ValidationError`` for a malformed, reserved or taken key, an unknown
    type, or enum values that do not fit the type.
    """
    with transaction.atomic():
        validate_definition(
            workspace=workspace, key=key, field_type=field_type, enum_values=enum_values
        )
        return CustomFieldDefinition.objects.create(
            workspace=workspace,
            key=key,
            label=label,
            field_type=CustomFieldType(field_type),
            enum_values=list(enum_values),
        )


def delete_custom_field(*, definition: CustomFieldDefinition) -> None:
    """Remove a custom field definition; customers' stored values for it are dropped too.

    Rules that use the field must be dealt with first (``automations.services`` lists and
    disables them); this service only changes the domain.
    """
    with transaction.atomic():
        key = definition.key
        customers = Customer.objects.select_for_update().filter(
            workspace_id=definition.workspace_id, custom_values__has_key=key
        )
        for customer in customers:
            customer.custom_values.pop(key, None)
            customer.save(update_fields=["custom_values", "updated_at"])
        definition.delete()


def _validate_custom(workspace: Workspace, key: str, value: object) -> types.JSONValue:
    definition = get_custom_field(workspace, key)
    if definition is None:
        known = [
            *PROFILE_FIELD_TYPES,
            *workspace.custom_field_definitions.values_list("key", flat=True),
        ]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise types.ValidationError([types.FieldError(key, f"unknown customer field{hint}")])
    return validate_custom_value(definition, value)


def _email_taken(customer: Customer, email: str) -> bool:
    others = Customer.objects.filter(workspace_id=customer.workspace_id, email=email)
    return others.exclude(pk=customer.pk).exists()


def _add_tag(customer: Customer, tag: str) -> bool:
    """Lock the customer and give them ``tag`` unless they have it; return whether it was added.

    The lock is the customer's row in its workspace (``relock``'s check: a customer of another
    workspace raises ``Customer.DoesNotExist``). The tag is one ``INSERT ... ON CONFLICT DO
    NOTHING`` under the (customer, tag) unique constraint: no read before it and no savepoint
    around it, and a tag added meanwhile by someone not holding the customer's lock (the admin)
    is not an error. On PostgreSQL the lock and the insert are one prepared statement: nothing
    of the customer's row is read, tagging needs none of it.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        ((found, added),) = execute_prepared(
            _tag_statement(), [customer.pk, customer.workspace_id, tag, now]
        )
        if not found:
            raise Customer.DoesNotExist(f"customer {customer.pk} is not in this workspace")
        return bool(added)
    locked = relock(customer)
    stamp = CustomerTag._meta.get_field("created_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(_tag_insert(), [locked.pk, tag, stamp])
        return cursor.fetchone() is not None


@cache
def _tag_insert() -> str:
    meta = CustomerTag._meta
    quote = connection.ops.quote_name
    column = {f.name: quote(str(f.column)) for f in meta.concrete_fields}
    return (
        f"INSERT INTO {quote(meta.db_table)} ({column['customer']}, {column['tag']}, "
        f"{column['created_at']}) VALUES (%s, %s, %s) "
        f"ON CONFLICT ({column['customer']}, {column['tag']}) DO NOTHING "
        f"RETURNING {column['id']}"
    )


@cache
def _tag_statement() -> str:
    """Lock the customer in its workspace, insert the tag; say whether each happened."""
    quote = connection.ops.quote_name
    customer_table = quote(Customer._meta.db_table)
    workspace = quote(Customer._meta.get_field("workspace").column)
    insert = _tag_insert().replace("VALUES (%s, %s, %s)", "SELECT c.id, %s, %s FROM c")
    return (
        f"WITH c AS (SELECT id FROM {customer_table} WHERE id = %s AND {workspace} = %s"
        f" FOR UPDATE), t AS ({insert})"
        " SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM t)"
    )


def _clean_tag(tag: str) -> str:
    cleaned = tag.strip()
    if not cleaned or len(cleaned) > TAG_MAX_LENGTH:
        raise DomainError(f"a tag has 1 to {TAG_MAX_LENGTH} characters, got {tag!r}")
    return cleaned


def _record(
    customer: Customer, trigger_key: str, fields: dict[str, object], causation: Causation | None
) -> None:
    """Record ``trigger_key`` for the customer: ``customer_id`` plus ``fields``."""
    record_event(
        workspace=customer.workspace,
        trigger_key=trigger_key,
        payload={"customer_id": customer.pk, **fields},
        causation=causation,
    )
