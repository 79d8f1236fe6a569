"""Plain-English words for types, operators, fields and plans, shared by messages and sentences."""

from __future__ import annotations

from catalog.specs import PlanTier
from catalog.types import (
    AnyType,
    BooleanType,
    DatetimeType,
    DateType,
    DecimalType,
    DurationType,
    EmailType,
    EnumType,
    FieldSpec,
    FieldType,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    Operator,
    PhoneType,
    RefType,
    StringType,
    UrlType,
)

OPERATOR_WORDS: dict[Operator, str] = {
    Operator.EQ: "is equal to",
    Operator.NE: "is not equal to",
    Operator.GT: "is greater than",
    Operator.GTE: "is at least",
    Operator.LT: "is less than",
    Operator.LTE: "is at most",
    Operator.BETWEEN: "is between",
    Operator.EQUALS: "equals",
    Operator.CONTAINS: "contains",
    Operator.STARTS_WITH: "starts with",
    Operator.MATCHES: "matches the pattern",
    Operator.IN_LIST: "is one of",
    Operator.IS: "is",
    Operator.IS_ONE_OF: "is one of",
    Operator.LIST_CONTAINS: "includes",
    Operator.IS_EMPTY: "is empty",
    Operator.LENGTH: "has a length of",
    Operator.IS_SET: "is set",
    Operator.IS_NOT_SET: "is not set",
    Operator.BEFORE: "is before",
    Operator.AFTER: "is after",
    Operator.WITHIN_LAST: "is within the last",
}
"""How each operator reads in a sentence (``total is greater than 100``)."""


def article(noun: str) -> str:
    """Return ``noun`` with ``a`` or ``an`` in front (``an order``, ``a product``)."""
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def humanize(name: str) -> str:
    """Return a field name as words: ``lifecycle_stage`` → ``Lifecycle stage``."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def field_label(path: str, spec: FieldSpec | None = None) -> str:
    """Return the words for the field at ``path``: its declared label, else its last name."""
    if spec is not None and spec.label:
        return spec.label
    last = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return humanize(last)


def type_noun(field_type: FieldType) -> str:
    """Return what a type *is*, for "Total is money" and "Tag needs a customer"."""
    if isinstance(field_type, RefType):
        return article(field_type.entity)
    if isinstance(field_type, EnumType):
        return "a choice of " + ", ".join(field_type.values)
    if isinstance(field_type, ListType):
        return "a list of " + plural(field_type.item)
    simple: list[tuple[type[FieldType], str]] = [
        (EmailType, "an email address"),
        (PhoneType, "a phone number"),
        (UrlType, "a web address"),
        (StringType, "text"),
        (IntegerType, "a whole number"),
        (DecimalType, "a number"),
        (MoneyType, "money"),
        (BooleanType, "yes or no"),
        (DatetimeType, "a date and time"),
        (DateType, "a date"),
        (DurationType, "a length of time"),
        (ObjectType, "a group of fields"),
        (AnyType, "a value"),
    ]
    for cls, noun in simple:
        if isinstance(field_type, cls):
            return noun
    return field_type.label


def value_phrase(field_type: FieldType) -> str:
    """Return what a *value* of the type is, for ``"abc" is not an amount``."""
    if isinstance(field_type, MoneyType):
        return "an amount"
    if isinstance(field_type, EnumType):
        return "one of " + ", ".join(field_type.values)
    if isinstance(field_type, BooleanType):
        return "true or false"
    if isinstance(field_type, RefType):
        return f"the id of {article(field_type.entity)}"
    if isinstance(field_type, ListType):
        count = ""
        if field_type.min_items and field_type.min_items == field_type.max_items:
            count = f"{field_type.min_items} "
        return f"a list of {count}{plural(field_type.item)}"
    return type_noun(field_type)


def plural(field_type: FieldType) -> str:
    """Return the plural noun of a type, for lists (``customers``, ``amounts``, ``texts``)."""
    if isinstance(field_type, RefType):
        return f"{field_type.entity}s"
    if isinstance(field_type, MoneyType):
        return "amounts"
    if isinstance(field_type, StringType):
        return "texts"
    if isinstance(field_type, IntegerType):
        return "whole numbers"
    noun = type_noun(field_type)
    for prefix in ("a ", "an "):
        if noun.startswith(prefix):
            return noun.removeprefix(prefix) + "s"
    return noun


def example_value(field_type: FieldType) -> str:
    """Return a short example of a valid value, for hints (``{"amount": "100", ...}``)."""
    examples: list[tuple[type[FieldType], str]] = [
        (MoneyType, 'an amount and a currency, like {"amount": "100", "currency": "EUR"}'),
        (EmailType, "an address like jane@example.com"),
        (PhoneType, "a number like +4915112345678"),
        (UrlType, "an address like https://example.com/hook"),
        (StringType, 'text in quotes, like "vip"'),
        (IntegerType, "a whole number, like 3"),
        (DecimalType, 'a number, like 12.5 or "12.50"'),
        (BooleanType, "true or false"),
        (DatetimeType, "a date and time with a time zone, like 2025-03-01T09:00:00Z"),
        (DateType, "a date like 2025-03-01"),
        (DurationType, "a length of time like PT5M (5 minutes) or P1D (1 day)"),
        (RefType, "a number id, like 42"),
    ]
    if isinstance(field_type, EnumType):
        return "one of " + ", ".join(field_type.values)
    if isinstance(field_type, ListType):
        return "a list, like [" + ", ".join(["…"] * max(1, field_type.min_items)) + "]"
    for cls, example in examples:
        if isinstance(field_type, cls):
            return example
    return "a value of that type"


def plan_name(tier: PlanTier) -> str:
    """Return the plan's display name (``Pro``)."""
    return tier.value.capitalize()
