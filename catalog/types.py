"""Typed field vocabulary of SPEC 2: validation, coercion, JSON Schema, operators, assignability.

Pure module: no Django import, so the checker, the conditions and the webhook ingest can use it
anywhere, and its tests need no database.

Every type is a small frozen value. ``validate(value, path)`` returns the *normalized JSON value*
(what is stored in JSON columns and event payloads) or raises :class:`ValidationError` listing
every problem with its path (``line_items[2].quantity: expected integer, got "three"``).
``to_python(json_value)`` turns a normalized value into Python objects for condition evaluation.

Normalized JSON forms (the contract other modules rely on):

- ``string``, ``text``, ``email``, ``phone``, ``url``, ``enum``: a JSON string. Emails keep
  their local part and get a lower-case domain; phones are E.164 (``+4915112345678``) after
  removing spaces, dots, dashes and parentheses (a number without ``+`` is rejected: its country
  is ambiguous); URLs are absolute ``http``/``https`` URLs with a host.
- ``integer``: a JSON integer. ``3.0`` becomes ``3``; ``"3"`` and ``true`` are rejected.
- ``decimal``: a plain decimal string without exponent (``"12.50"``), from an int, a finite
  float, a ``Decimal`` or a decimal string; the scale given is kept.
- ``money``: ``{"amount": "<decimal>", "currency": "EUR"}``; the currency is three letters,
  upper-cased.
- ``boolean``: ``true``/``false`` only.
- ``datetime``: an ISO 8601 string in UTC with a ``Z`` suffix (``2025-03-01T09:00:00Z``). Naive
  datetimes (no offset) are *rejected*, not assumed UTC: guessing a time zone silently shifts
  schedules by hours.
- ``date``: ``YYYY-MM-DD``.
- ``duration``: an ISO 8601 duration string of days, hours, minutes and whole seconds
  (``PT5M``, ``P1DT2H``, ``PT0S``). Input may also be a non-negative number of seconds or
  ``P<n>W``; years and months are rejected (their length varies). A day is 24 hours.
- ``ref(<entity>)``: the positive integer primary key of a Typewire entity.
- ``list(<type>)``: a JSON array of normalized items.
- ``object(<fields>)``: a JSON object of normalized declared fields; a missing optional field
  stays missing and an explicit ``null`` stays ``null``. Closed objects reject unknown keys;
  open objects keep them (they must be plain JSON).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

type JSONValue = None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]

ENTITIES: tuple[str, ...] = (
    "customer",
    "order",
    "product",
    "segment",
    "journey",
    "campaign",
    "message",
)
"""Entities a ``ref(...)`` may point at (SPEC 3)."""


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one value: where (``line_items[2].quantity``) and what, in plain English."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationError(ValueError):
    """A value does not fit its type; ``errors`` lists every problem, in document order."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))

    def __reduce__(self) -> tuple[type[ValidationError], tuple[list[FieldError]]]:
        # Pickle by errors, not by message: Celery results and task retries pickle exceptions.
        return (ValidationError, (self.errors,))

    def as_dict(self) -> dict[str, list[str]]:
        """Return the messages grouped by path (for API error bodies)."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.path, []).append(error.message)
        return grouped


class PathError(LookupError):
    """A dotted path names no field; carries the failing segment and the names that exist."""

    def __init__(self, path: str, segment: str, available: tuple[str, ...], reason: str) -> None:
        self.path = path
        self.segment = segment
        self.available = available
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self) -> tuple[type[PathError], tuple[str, str, tuple[str, ...], str]]:
        return (PathError, (self.path, self.segment, self.available, self.reason))


def join_path(path: str, key: str | int) -> str:
    """Append an object key (``a.b``) or a list index (``a[2]``) to a path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe_value(value: object) -> str:
    """Render a received value briefly for an error message (``"three"``, ``null``, ``a list``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        rendered = json.dumps(value, ensure_ascii=False)
        return rendered if len(rendered) <= 42 else rendered[:38] + '..."'
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _suggest(name: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return f' (did you mean "{matches[0]}"?)' if matches else ""


def is_json_value(value: object) -> bool:
    """Return whether ``value`` is plain JSON (str-keyed dicts, lists, scalars, finite floats)."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_value(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return False


# ---------------------------------------------------------------------------------------------
# Operators


class Operator(StrEnum):
    """Condition operators (SPEC 2); which ones a field supports depends on its type."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    EQUALS = "equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    MATCHES = "matches"
    IN_LIST = "in_list"
    IS = "is"
    IS_ONE_OF = "is_one_of"
    LIST_CONTAINS = "list_contains"
    IS_EMPTY = "is_empty"
    LENGTH = "length"
    IS_SET = "is_set"
    IS_NOT_SET = "is_not_set"
    BEFORE = "before"
    AFTER = "after"
    WITHIN_LAST = "within_last"


NUMBER_OPERATORS = (
    Operator.EQ,
    Operator.NE,
    Operator.GT,
    Operator.GTE,
    Operator.LT,
    Operator.LTE,
    Operator.BETWEEN,
)
TEXT_OPERATORS = (
    Operator.EQUALS,
    Operator.CONTAINS,
    Operator.STARTS_WITH,
    Operator.MATCHES,
    Operator.IN_LIST,
)
CHOICE_OPERATORS = (Operator.IS, Operator.IS_ONE_OF)
LIST_OPERATORS = (Operator.LIST_CONTAINS, Operator.IS_EMPTY, Operator.LENGTH)
PRESENCE_OPERATORS = (Operator.IS_SET, Operator.IS_NOT_SET)
DATETIME_OPERATORS = (Operator.BEFORE, Operator.AFTER, Operator.BETWEEN, Operator.WITHIN_LAST)
DATE_OPERATORS = (Operator.IS, *DATETIME_OPERATORS)


@dataclass(frozen=True, slots=True)
class Money:
    """A money amount in a currency: the Python form of a ``money`` value."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


# ---------------------------------------------------------------------------------------------
# Base type


class FieldType(ABC):
    """Base of every field type: immutable, hashable, comparable by value."""

    __slots__ = ()

    name: ClassVar[str]
    operators: ClassVar[tuple[Operator, ...]] = ()

    @property
    def label(self) -> str:
        """Readable form for messages and the UI: ``ref(customer)``, ``list(email)``."""
        return self.name

    def __str__(self) -> str:
        return self.label

    def validate(self, value: object, path: str = "") -> JSONValue:
        """Return the normalized JSON form of ``value``; raise ValidationError on any problem."""
        errors: list[FieldError] = []
        result = self.check(value, path, errors)
        if errors:
            raise ValidationError(errors)
        return result

    @abstractmethod
    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Append the problems of ``value`` to ``errors`` and return its normalized form.

        The returned value is meaningless when problems were appended. ``None`` is never valid
        here: optionality is handled by :class:`FieldSpec`.
        """

    @abstractmethod
    def to_python(self, value: JSONValue) -> Any:
        """Convert a *normalized* JSON value to its Python form (Decimal, datetime, Money...)."""

    @abstractmethod
    def json_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the normalized JSON form."""

    def accepts(self, source: FieldType) -> bool:
        """Return whether a value of type ``source`` may be used where this type is expected."""
        return source == self

    def operand_type(self, operator: Operator) -> FieldType | None:
        """Return the type of the value compared with this field by ``operator``.

        ``None`` means the operator takes no value (``is_empty``). Raises ValueError when the
        type does not support the operator (``is_set``/``is_not_set`` belong to FieldSpec).
        """
        if operator not in self.operators:
            raise ValueError(f"{self.label} does not support the operator {operator.value}")
        if operator in (Operator.BETWEEN,):
            return ListType(self, min_items=2, max_items=2)
        if operator in (Operator.IN_LIST, Operator.IS_ONE_OF):
            return ListType(self, min_items=1)
        if operator in (Operator.CONTAINS, Operator.STARTS_WITH, Operator.MATCHES):
            return StringType()
        if operator is Operator.WITHIN_LAST:
            return DurationType()
        return self

    def _error(
        self, errors: list[FieldError], path: str, value: object, expected: str = ""
    ) -> None:
        errors.append(
            FieldError(path, f"expected {expected or self.label}, got {describe_value(value)}")
        )

    def _schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, "x-typewire-type": self.label}


# ---------------------------------------------------------------------------------------------
# Text types


_STRING_FAMILY: tuple[str, ...] = ("string", "text", "email", "phone", "url", "enum")


@dataclass(frozen=True, slots=True)
class StringType(FieldType):
    """A short single-value string (a name, a tag, a SKU)."""

    name: ClassVar[str] = "string"
    operators: ClassVar[tuple[Operator, ...]] = TEXT_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept any JSON string, unchanged."""
        if not isinstance(value, str):
            self._error(errors, path, value)
            return None
        return value

    def to_python(self, value: JSONValue) -> str:
        """Return the string."""
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        """Return ``{"type": "string"}``."""
        return self._schema({"type": "string"})

    def accepts(self, source: FieldType) -> bool:
        """Every string-like type (text, email, phone, url, enum) fits a string."""
        return source.name in _STRING_FAMILY

    def operand_type(self, operator: Operator) -> FieldType | None:
        """Text operators compare with plain strings (``email equals "a@b.co"`` takes a string)."""
        FieldType.operand_type(self, operator)
        if operator is Operator.IN_LIST:
            return ListType(StringType(), min_items=1)
        return StringType()


@dataclass(frozen=True, slots=True)
class TextType(StringType):
    """Long, possibly multi-line text (an email body, generated copy)."""

    name: ClassVar[str] = "text"

    def json_schema(self) -> dict[str, Any]:
        """Return ``{"type": "string"}`` marked as text."""
        return self._schema({"type": "string"})


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True, slots=True)
class EmailType(StringType):
    """An email address; the domain is lower-cased."""

    name: ClassVar[str] = "email"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept ``local@domain.tld`` (surrounding spaces removed); lower-case the domain."""
        if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()):
            self._error(errors, path, value, "an email address")
            return None
        local, _, domain = value.strip().rpartition("@")
        return f"{local}@{domain.lower()}"

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``format: email``."""
        return self._schema({"type": "string", "format": "email"})

    def accepts(self, source: FieldType) -> bool:
        """Only an email fits an email."""
        return isinstance(source, EmailType)


_PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True, slots=True)
class PhoneType(StringType):
    """A phone number in E.164 form (``+4915112345678``)."""

    name: ClassVar[str] = "phone"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept ``+`` and 7 to 15 digits once spaces, dots, dashes and parentheses are removed."""
        if isinstance(value, str):
            compact = _PHONE_SEPARATORS.sub("", value)
            if _PHONE_RE.match(compact):
                return compact
        self._error(errors, path, value, "a phone number in international form (+4915112345678)")
        return None

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with the E.164 pattern."""
        return self._schema({"type": "string", "pattern": _PHONE_RE.pattern})

    def accepts(self, source: FieldType) -> bool:
        """Only a phone fits a phone."""
        return isinstance(source, PhoneType)


@dataclass(frozen=True, slots=True)
class UrlType(StringType):
    """An absolute http(s) URL."""

    name: ClassVar[str] = "url"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept an absolute ``http://`` or ``https://`` URL with a host."""
        if isinstance(value, str) and not any(c.isspace() for c in value):
            try:
                parts = urlsplit(value)
            except ValueError:
                parts = None
            if parts and parts.scheme.lower() in ("http", "https") and parts.hostname:
                return value
        self._error(errors, path, value, "an http(s) URL")
        return None

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``format: uri``."""
        return self._schema({"type": "string", "format": "uri"})

    def accepts(self, source: FieldType) -> bool:
        """Only a URL fits a URL."""
        return isinstance(source, UrlType)


@dataclass(frozen=True, slots=True)
class EnumType(FieldType):
    """One of a fixed set of strings, e.g. ``enum(email, sms, whatsapp)``."""

    values: tuple[str, ...]
    name: ClassVar[str] = "enum"
    operators: ClassVar[tuple[Operator, ...]] = CHOICE_OPERATORS

    def __post_init__(self) -> None:
        if not self.values or len(set(self.values)) != len(self.values):
            raise ValueError(f"enum needs distinct values, got {self.values!r}")

    @property
    def label(self) -> str:
        """``enum(a, b, c)``."""
        return f"enum({', '.join(self.values)})"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept exactly one of the values (case-sensitive)."""
        if isinstance(value, str) and value in self.values:
            return value
        self._error(errors, path, value, f"one of {', '.join(self.values)}")
        return None

    def to_python(self, value: JSONValue) -> str:
        """Return the string."""
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``enum``."""
        return self._schema({"type": "string", "enum": list(self.values)})

    def accepts(self, source: FieldType) -> bool:
        """An enum fits an enum that has all its values."""
        return isinstance(source, EnumType) and set(source.values) <= set(self.values)


# ---------------------------------------------------------------------------------------------
# Numbers


def _as_integral(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class IntegerType(FieldType):
    """A whole number, optionally bounded (``minimum``/``maximum`` inclusive)."""

    minimum: int | None = None
    maximum: int | None = None
    name: ClassVar[str] = "integer"
    operators: ClassVar[tuple[Operator, ...]] = NUMBER_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept ints and integral floats (``3.0``); never strings or booleans."""
        number = _as_integral(value)
        if number is None:
            self._error(errors, path, value)
            return None
        if self.minimum is not None and number < self.minimum:
            errors.append(FieldError(path, f"must be at least {self.minimum}, got {number}"))
        elif self.maximum is not None and number > self.maximum:
            errors.append(FieldError(path, f"must be at most {self.maximum}, got {number}"))
        return number

    def to_python(self, value: JSONValue) -> int:
        """Return the int."""
        assert isinstance(value, int)
        return value

    def json_schema(self) -> dict[str, Any]:
        """Return an integer schema with its bounds."""
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._schema(schema)

    def accepts(self, source: FieldType) -> bool:
        """Any integer fits an integer (bounds are checked on the value at run time)."""
        return isinstance(source, IntegerType)


_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def parse_decimal(value: object) -> Decimal | None:
    """Return ``value`` as a finite Decimal (from int, float, Decimal or numeric string) or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _DECIMAL_RE.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern already rules this out
            return None
    return None


def format_decimal(number: Decimal) -> str:
    """Return the canonical string of a decimal: no exponent, no sign on zero, scale kept."""
    text = format(number, "f")
    return text[1:] if text.startswith("-") and number == 0 else text


@dataclass(frozen=True, slots=True)
class DecimalType(FieldType):
    """An exact decimal number, stored as a string (``"12.50"``)."""

    name: ClassVar[str] = "decimal"
    operators: ClassVar[tuple[Operator, ...]] = NUMBER_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept numbers and decimal strings (``"12.5"``, not ``"1e3"``); return a string."""
        number = parse_decimal(value)
        if number is None:
            self._error(errors, path, value)
            return None
        return format_decimal(number)

    def to_python(self, value: JSONValue) -> Decimal:
        """Return a Decimal."""
        return Decimal(str(value))

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with the decimal pattern."""
        return self._schema({"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN})

    def accepts(self, source: FieldType) -> bool:
        """Integers and decimals fit a decimal."""
        return isinstance(source, IntegerType | DecimalType)


_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


@dataclass(frozen=True, slots=True)
class MoneyType(FieldType):
    """An amount in an ISO 4217 currency: ``{"amount": "120.00", "currency": "EUR"}``."""

    name: ClassVar[str] = "money"
    operators: ClassVar[tuple[Operator, ...]] = NUMBER_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept a Money or an object with ``amount`` (decimal) and ``currency`` (3 letters)."""
        if isinstance(value, Money):
            value = {"amount": value.amount, "currency": value.currency}
        if not isinstance(value, Mapping):
            self._error(errors, path, value, 'money ({"amount": "120.00", "currency": "EUR"})')
            return None
        before = len(errors)
        amount = DecimalType().check(value.get("amount"), join_path(path, "amount"), errors)
        if "amount" not in value:
            del errors[before:]
            errors.append(FieldError(join_path(path, "amount"), "required field is missing"))
        currency = value.get("currency")
        if "currency" not in value:
            errors.append(FieldError(join_path(path, "currency"), "required field is missing"))
        elif not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
            errors.append(
                FieldError(
                    join_path(path, "currency"),
                    f"expected a 3-letter ISO currency code, got {describe_value(currency)}",
                )
            )
        for key in value:
            if key not in ("amount", "currency"):
                errors.append(FieldError(join_path(path, str(key)), "unknown field"))
        if len(errors) > before:
            return None
        assert isinstance(currency, str)
        return {"amount": amount, "currency": currency.upper()}

    def to_python(self, value: JSONValue) -> Money:
        """Return a Money."""
        assert isinstance(value, dict)
        return Money(Decimal(str(value["amount"])), str(value["currency"]))

    def json_schema(self) -> dict[str, Any]:
        """Return an object schema with ``amount`` and ``currency``."""
        return self._schema(
            {
                "type": "object",
                "properties": {
                    "amount": {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
                "required": ["amount", "currency"],
                "additionalProperties": False,
            }
        )


@dataclass(frozen=True, slots=True)
class BooleanType(FieldType):
    """``true`` or ``false``; strings like ``"yes"`` are not coerced."""

    name: ClassVar[str] = "boolean"
    operators: ClassVar[tuple[Operator, ...]] = (Operator.IS,)

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept only JSON booleans."""
        if not isinstance(value, bool):
            self._error(errors, path, value)
            return None
        return value

    def to_python(self, value: JSONValue) -> bool:
        """Return the bool."""
        return bool(value)

    def json_schema(self) -> dict[str, Any]:
        """Return ``{"type": "boolean"}``."""
        return self._schema({"type": "boolean"})


# ---------------------------------------------------------------------------------------------
# Time


def format_datetime(value: dt.datetime) -> str:
    """Return the canonical form of an aware datetime: ISO 8601 in UTC with a ``Z`` suffix."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DatetimeType(FieldType):
    """An instant: ISO 8601 with a time zone, normalized to UTC (``2025-03-01T09:00:00Z``)."""

    name: ClassVar[str] = "datetime"
    operators: ClassVar[tuple[Operator, ...]] = DATETIME_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept aware datetimes and ISO 8601 strings with an offset; reject naive ones."""
        parsed: dt.datetime | None = None
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, str) and len(value) > 10:
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self._error(errors, path, value, "an ISO 8601 datetime (2025-03-01T09:00:00Z)")
            return None
        if parsed.utcoffset() is None:
            errors.append(
                FieldError(
                    path,
                    f"expected a datetime with a time zone (Z or +01:00), "
                    f"got {describe_value(value if isinstance(value, str) else str(value))}",
                )
            )
            return None
        return format_datetime(parsed)

    def to_python(self, value: JSONValue) -> dt.datetime:
        """Return an aware datetime in UTC."""
        return dt.datetime.fromisoformat(str(value))

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``format: date-time``."""
        return self._schema({"type": "string", "format": "date-time"})


@dataclass(frozen=True, slots=True)
class DateType(FieldType):
    """A calendar date, ``YYYY-MM-DD``."""

    name: ClassVar[str] = "date"
    operators: ClassVar[tuple[Operator, ...]] = DATE_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept a ``date`` (not a datetime) or an ISO date string."""
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, str) and len(value) == 10:
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        self._error(errors, path, value, "a date (YYYY-MM-DD)")
        return None

    def to_python(self, value: JSONValue) -> dt.date:
        """Return a date."""
        return dt.date.fromisoformat(str(value))

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``format: date``."""
        return self._schema({"type": "string", "format": "date"})


_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(value: str) -> dt.timedelta | None:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds; None if invalid."""
    match = _DURATION_RE.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        return None
    parts = {key: int(number) for key, number in match.groupdict().items() if number is not None}
    if not parts:
        return None
    return dt.timedelta(**parts)


def format_duration(value: dt.timedelta) -> str:
    """Return the canonical ISO 8601 form of a whole-second duration (``P1DT2H``, ``PT0S``)."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"P{days}D" if days else "P"
    clock = "".join(
        f"{number}{unit}"
        for number, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if number
    )
    if clock:
        text += "T" + clock
    return "PT0S" if text == "P" else text


@dataclass(frozen=True, slots=True)
class DurationType(FieldType):
    """A length of time, as an ISO 8601 duration string (``PT5M``)."""

    name: ClassVar[str] = "duration"
    operators: ClassVar[tuple[Operator, ...]] = NUMBER_OPERATORS

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept ISO strings, whole non-negative seconds or a whole-second timedelta."""
        parsed: dt.timedelta | None = None
        if isinstance(value, dt.timedelta):
            parsed = value
        elif isinstance(value, str):
            parsed = parse_duration(value)
        else:
            seconds = _as_integral(value)
            parsed = dt.timedelta(seconds=seconds) if seconds is not None else None
        if parsed is None or parsed < dt.timedelta(0) or parsed.microseconds:
            self._error(errors, path, value, "a duration (PT5M, P1D or a number of seconds)")
            return None
        return format_duration(parsed)

    def to_python(self, value: JSONValue) -> dt.timedelta:
        """Return a timedelta."""
        parsed = parse_duration(str(value))
        assert parsed is not None
        return parsed

    def json_schema(self) -> dict[str, Any]:
        """Return a string schema with ``format: duration``."""
        return self._schema({"type": "string", "format": "duration"})


# ---------------------------------------------------------------------------------------------
# References and containers


@dataclass(frozen=True, slots=True)
class RefType(FieldType):
    """The integer primary key of a Typewire entity, e.g. ``ref(customer)``."""

    entity: str
    name: ClassVar[str] = "ref"
    operators: ClassVar[tuple[Operator, ...]] = CHOICE_OPERATORS

    def __post_init__(self) -> None:
        if self.entity not in ENTITIES:
            raise ValueError(f"unknown entity {self.entity!r}; expected one of {ENTITIES}")

    @property
    def label(self) -> str:
        """``ref(<entity>)``."""
        return f"ref({self.entity})"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept a positive integer id (``42`` or ``42.0``), never a string."""
        number = _as_integral(value)
        if number is None or number < 1:
            self._error(errors, path, value, f"{self.label} (a positive integer id)")
            return None
        return number

    def to_python(self, value: JSONValue) -> int:
        """Return the id."""
        assert isinstance(value, int)
        return value

    def json_schema(self) -> dict[str, Any]:
        """Return a positive-integer schema naming the entity."""
        return self._schema({"type": "integer", "minimum": 1, "x-typewire-entity": self.entity})

    def accepts(self, source: FieldType) -> bool:
        """Only a ref to the same entity fits."""
        return isinstance(source, RefType) and source.entity == self.entity


@dataclass(frozen=True, slots=True)
class ListType(FieldType):
    """A list whose items all have one type, e.g. ``list(ref(product))``."""

    item: FieldType
    min_items: int = 0
    max_items: int | None = None
    name: ClassVar[str] = "list"
    operators: ClassVar[tuple[Operator, ...]] = LIST_OPERATORS

    @property
    def label(self) -> str:
        """``list(<item>)``."""
        return f"list({self.item.label})"

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Check every item (collecting each item's problems) and the length bounds."""
        if not isinstance(value, list | tuple):
            self._error(errors, path, value)
            return None
        items = [self.item.check(item, join_path(path, i), errors) for i, item in enumerate(value)]
        if len(items) < self.min_items:
            errors.append(
                FieldError(path, f"expected at least {self.min_items} items, got {len(items)}")
            )
        elif self.max_items is not None and len(items) > self.max_items:
            errors.append(
                FieldError(path, f"expected at most {self.max_items} items, got {len(items)}")
            )
        return items

    def to_python(self, value: JSONValue) -> list[Any]:
        """Convert every item."""
        assert isinstance(value, list)
        return [self.item.to_python(item) for item in value]

    def json_schema(self) -> dict[str, Any]:
        """Return an array schema with the item schema and bounds."""
        schema: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return self._schema(schema)

    def accepts(self, source: FieldType) -> bool:
        """A list fits when its items fit (``list(email)`` fits ``list(string)``)."""
        return isinstance(source, ListType) and self.item.accepts(source.item)

    def operand_type(self, operator: Operator) -> FieldType | None:
        """``list_contains`` takes an item, ``length`` an integer, ``is_empty`` nothing."""
        FieldType.operand_type(self, operator)
        if operator is Operator.LIST_CONTAINS:
            return self.item
        if operator is Operator.LENGTH:
            return IntegerType(minimum=0)
        return None


@dataclass(frozen=True, slots=True)
class AnyType(FieldType):
    """Any JSON value. Used only where the real type depends on another input (``type_from``)."""

    name: ClassVar[str] = "any"
    operators: ClassVar[tuple[Operator, ...]] = ()

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Accept any plain JSON value except null."""
        if not is_json_value(value):
            self._error(errors, path, value, "a JSON value")
            return None
        return value  # type: ignore[return-value]

    def to_python(self, value: JSONValue) -> Any:
        """Return the value unchanged."""
        return value

    def json_schema(self) -> dict[str, Any]:
        """Return an unconstrained schema."""
        return self._schema({})

    def accepts(self, source: FieldType) -> bool:
        """Every type fits ``any``."""
        return True


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A declared field: its type, whether it may be absent or null, and words for the UI.

    ``type_from`` names a sibling input whose *value* decides this field's real type (the
    ``value`` of ``update_field`` has the type of the profile field named by ``field``); the
    checker resolves it, and run-time validation only checks the declared type.
    """

    type: FieldType
    optional: bool = False
    label: str = ""
    description: str = ""
    type_from: str = ""

    def __str__(self) -> str:
        return f"{self.type.label}?" if self.optional else self.type.label

    @property
    def operators(self) -> tuple[Operator, ...]:
        """The type's operators, plus ``is_set``/``is_not_set`` when the field is optional."""
        return self.type.operators + PRESENCE_OPERATORS if self.optional else self.type.operators

    def validate(self, value: object, path: str = "") -> JSONValue:
        """Return the normalized value (``None`` allowed when optional); raise ValidationError."""
        errors: list[FieldError] = []
        result = self.check(value, path, errors)
        if errors:
            raise ValidationError(errors)
        return result

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Like FieldType.check, with ``None`` accepted for optional fields."""
        if value is None:
            if not self.optional:
                errors.append(FieldError(path, f"expected {self.type.label}, got null"))
            return None
        return self.type.check(value, path, errors)

    def to_python(self, value: JSONValue) -> Any:
        """Convert a normalized value; ``None`` stays ``None``."""
        return None if value is None else self.type.to_python(value)

    def json_schema(self) -> dict[str, Any]:
        """Return the type's schema with title and description; optional fields allow null."""
        schema = self.type.json_schema()
        if self.optional:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if self.label:
            schema["title"] = self.label
        if self.description:
            schema["description"] = self.description
        return schema


type FieldDeclaration = FieldType | FieldSpec


def as_field_spec(declaration: FieldDeclaration) -> FieldSpec:
    """Return ``declaration`` as a FieldSpec (a bare type is a required field)."""
    return declaration if isinstance(declaration, FieldSpec) else FieldSpec(declaration)


def fields(
    declarations: Mapping[str, FieldDeclaration] | None = None, /, **named: FieldDeclaration
) -> dict[str, FieldSpec]:
    """Build an ordered ``{name: FieldSpec}`` from types or specs: ``fields(id=ref("order"))``."""
    merged = {**(declarations or {}), **named}
    return {name: as_field_spec(declaration) for name, declaration in merged.items()}


@dataclass(frozen=True, slots=True)
class ObjectType(FieldType):
    """A JSON object with declared fields; ``is_open`` objects also keep undeclared keys.

    ``object()`` with no fields and ``is_open=True`` is a free-form object (``old_values``).
    Fields are stored as ordered pairs so the type stays hashable; use :attr:`fields`.
    """

    members: tuple[tuple[str, FieldSpec], ...] = ()
    is_open: bool = False
    name: ClassVar[str] = "object"
    operators: ClassVar[tuple[Operator, ...]] = ()

    @property
    def fields(self) -> dict[str, FieldSpec]:
        """The declared fields, in declaration order."""
        return dict(self.members)

    @property
    def field_names(self) -> tuple[str, ...]:
        """The declared field names, in declaration order."""
        return tuple(name for name, _ in self.members)

    def field(self, name: str) -> FieldSpec | None:
        """Return the declared field ``name``, or None."""
        for member, spec in self.members:
            if member == name:
                return spec
        return None

    def with_fields(self, extra: Mapping[str, FieldDeclaration]) -> ObjectType:
        """Return a copy with ``extra`` fields added (later ones replace same-named ones)."""
        return ObjectType(tuple({**self.fields, **fields(extra)}.items()), self.is_open)

    def check(self, value: object, path: str, errors: list[FieldError]) -> JSONValue:
        """Check every declared field and every unknown key, reporting all problems."""
        if not isinstance(value, Mapping):
            self._error(errors, path, value)
            return None
        result: dict[str, JSONValue] = {}
        for name, spec in self.members:
            if name in value:
                result[name] = spec.check(value[name], join_path(path, name), errors)
            elif not spec.optional:
                errors.append(FieldError(join_path(path, name), "required field is missing"))
        declared = self.field_names
        for key, item in value.items():
            if key in declared:
                continue
            key_path = join_path(path, str(key))
            if not self.is_open:
                errors.append(FieldError(key_path, "unknown field" + _suggest(str(key), declared)))
            elif not isinstance(key, str) or not is_json_value(item):
                errors.append(
                    FieldError(key_path, f"expected a JSON value, got {describe_value(item)}")
                )
            else:
                result[key] = item
        return result

    def to_python(self, value: JSONValue) -> dict[str, Any]:
        """Convert the declared fields; undeclared keys pass through unchanged."""
        assert isinstance(value, dict)
        declared = self.fields
        return {
            key: declared[key].to_python(item) if key in declared else item
            for key, item in value.items()
        }

    def json_schema(self) -> dict[str, Any]:
        """Return an object schema with properties, required names and additionalProperties."""
        return self._schema(
            {
                "type": "object",
                "properties": {name: spec.json_schema() for name, spec in self.members},
                "required": [name for name, spec in self.members if not spec.optional],
                "additionalProperties": self.is_open,
            }
        )

    def accepts(self, source: FieldType) -> bool:
        """Structural: every field we require exists in ``source`` with an assignable spec."""
        if not isinstance(source, ObjectType):
            return False
        for name, target in self.members:
            given = source.field(name)
            if given is None:
                if not target.optional:
                    return False
            elif not is_assignable(given, target):
                return False
        return True


# ---------------------------------------------------------------------------------------------
# Assignability and paths


def is_assignable(source: FieldDeclaration, target: FieldDeclaration) -> bool:
    """Return whether a value declared as ``source`` may be used where ``target`` is declared.

    An optional source does not fit a required target; types follow ``target.accepts``:
    email/phone/url/text/enum fit string, integer fits decimal, refs need the same entity,
    lists compare items, objects compare structurally.
    """
    source_spec, target_spec = as_field_spec(source), as_field_spec(target)
    if source_spec.optional and not target_spec.optional:
        return False
    return target_spec.type.accepts(source_spec.type)


_SEGMENT_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<indexes>(\[\d+\])*)$")


def resolve_path(root: ObjectType, path: str) -> FieldSpec:
    """Return the FieldSpec at a dotted path (``line_items[0].quantity``) inside ``root``.

    The result is optional when any step on the way is optional or is a list index. Raises
    PathError naming the failing segment and the fields available there. References to other
    entities (``customer.email``) are not followed here: that needs the entity schemas.
    """
    current: FieldSpec = FieldSpec(root)
    optional = False
    walked = ""
    for segment in path.split("."):
        match = _SEGMENT_RE.match(segment)
        if not isinstance(current.type, ObjectType):
            raise PathError(path, segment, (), f"{walked} is {current.type.label}, not an object")
        available = current.type.field_names
        if match is None or current.type.field(match["name"]) is None:
            name = match["name"] if match else segment
            raise PathError(
                path, segment, available, f'unknown field "{name}"' + _suggest(name, available)
            )
        spec = current.type.field(match["name"])
        assert spec is not None
        walked = join_path(walked, match["name"])
        optional = optional or spec.optional
        for index in re.findall(r"\[(\d+)\]", match["indexes"]):
            if not isinstance(spec.type, ListType):
                raise PathError(path, segment, (), f"{walked} is {spec.type.label}, not a list")
            walked = join_path(walked, int(index))
            spec = FieldSpec(spec.type.item)
            optional = True
        current = spec
    return FieldSpec(current.type, optional, current.label, current.description, current.type_from)


# ---------------------------------------------------------------------------------------------
# Constructors used by catalog declarations


def any_value() -> AnyType:
    """Return the ``any`` type (a JSON value whose type another input decides)."""
    return AnyType()


def string() -> StringType:
    """Return the ``string`` type."""
    return StringType()


def text() -> TextType:
    """Return the ``text`` type."""
    return TextType()


def email() -> EmailType:
    """Return the ``email`` type."""
    return EmailType()


def phone() -> PhoneType:
    """Return the ``phone`` type."""
    return PhoneType()


def url() -> UrlType:
    """Return the ``url`` type."""
    return UrlType()


def integer(minimum: int | None = None, maximum: int | None = None) -> IntegerType:
    """Return the ``integer`` type, optionally bounded."""
    return IntegerType(minimum, maximum)


def decimal() -> DecimalType:
    """Return the ``decimal`` type."""
    return DecimalType()


def money() -> MoneyType:
    """Return the ``money`` type."""
    return MoneyType()


def boolean() -> BooleanType:
    """Return the ``boolean`` type."""
    return BooleanType()


def datetime() -> DatetimeType:
    """Return the ``datetime`` type."""
    return DatetimeType()


def date() -> DateType:
    """Return the ``date`` type."""
    return DateType()


def duration() -> DurationType:
    """Return the ``duration`` type."""
    return DurationType()


def enum_of(*values: str) -> EnumType:
    """Return ``enum(values...)``."""
    return EnumType(tuple(values))


def ref(entity: str) -> RefType:
    """Return ``ref(entity)``; raises ValueError for an unknown entity."""
    return RefType(entity)


def list_of(item: FieldType, min_items: int = 0, max_items: int | None = None) -> ListType:
    """Return ``list(item)``."""
    return ListType(item, min_items, max_items)


def object_of(
    declarations: Mapping[str, FieldDeclaration] | None = None,
    /,
    *,
    is_open: bool = False,
    **named: FieldDeclaration,
) -> ObjectType:
    """Return ``object(fields)``; ``object_of(is_open=True)`` is a free-form object."""
    return ObjectType(tuple(fields(declarations, **named).items()), is_open)


def optional(declaration: FieldDeclaration, label: str = "", description: str = "") -> FieldSpec:
    """Return an optional FieldSpec of ``declaration`` (absent or null allowed)."""
    spec = as_field_spec(declaration)
    return FieldSpec(
        spec.type, True, label or spec.label, description or spec.description, spec.type_from
    )


def required(declaration: FieldDeclaration, label: str = "", description: str = "") -> FieldSpec:
    """Return a required FieldSpec of ``declaration`` with words for the UI."""
    spec = as_field_spec(declaration)
    return FieldSpec(
        spec.type, False, label or spec.label, description or spec.description, spec.type_from
    )


__all__ = [
    "ENTITIES",
    "AnyType",
    "BooleanType",
    "DateType",
    "DatetimeType",
    "DecimalType",
    "DurationType",
    "EmailType",
    "EnumType",
    "FieldError",
    "FieldSpec",
    "FieldType",
    "IntegerType",
    "JSONValue",
    "ListType",
    "Money",
    "MoneyType",
    "ObjectType",
    "Operator",
    "PathError",
    "PhoneType",
    "RefType",
    "StringType",
    "TextType",
    "UrlType",
    "ValidationError",
    "any_value",
    "as_field_spec",
    "boolean",
    "date",
    "datetime",
    "decimal",
    "duration",
    "email",
    "enum_of",
    "fields",
    "integer",
    "is_assignable",
    "list_of",
    "money",
    "object_of",
    "optional",
    "phone",
    "ref",
    "required",
    "resolve_path",
    "string",
    "text",
    "url",
]
