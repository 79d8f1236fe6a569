"""The merchant domain: Customer360, orders, products, journeys, campaigns and messages.

Models hold data and invariants; the functions of ``catalog.domain.services`` are their only
writers, and each records its internal events in the same transaction as the change.
"""
