"""Enumerations and field declarations shared by several built-in catalog entries."""

from __future__ import annotations

from catalog.types import EnumType, FieldSpec, enum_of, ref, required

LIFECYCLE_STAGES: EnumType = enum_of(
    "lead", "prospect", "first_purchase", "repeat", "vip", "at_risk", "churned"
)
"""The customer lifecycle stages of SPEC 3."""

CHANNELS: EnumType = enum_of("email", "sms", "whatsapp")
"""Messaging channels with a per-customer opt-in."""

KPIS: EnumType = enum_of("refund_rate", "order_count", "revenue", "average_order_value")
"""KPIs watched for anomalies."""

SEVERITIES: EnumType = enum_of("P1", "P2", "P3")
"""Anomaly severities, P1 the most urgent."""

CUSTOMER_ID: FieldSpec = required(ref("customer"), "Customer", "The customer concerned.")
ORDER_ID: FieldSpec = required(ref("order"), "Order", "The order concerned.")
PRODUCT_ID: FieldSpec = required(ref("product"), "Product", "The product concerned.")
