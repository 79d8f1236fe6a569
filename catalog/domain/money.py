"""Money as payloads carry it: ``{"amount": "120.00", "currency": "EUR"}`` (amount, ISO code)."""

from __future__ import annotations

import re
from decimal import Decimal

CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def quantize(amount: Decimal) -> Decimal:
    """Return ``amount`` rounded to cents, the precision of every money column."""
    return amount.quantize(CENT)


def money_payload(amount: Decimal, currency: str) -> dict[str, str]:
    """Return the JSON form of a money value, the amount as a string with two decimals."""
    return {"amount": str(quantize(amount)), "currency": currency}


def is_currency_code(code: str) -> bool:
    """Return whether ``code`` looks like an ISO 4217 code (three upper-case letters)."""
    return bool(_CURRENCY.match(code))
