"""Entity snapshots as rules see them, read by the engine's loader with one query each."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.domain.models import Customer
from catalog.domain.snapshots import (
    WorkspaceEntityLoader,
    customer_to_json,
    order_to_json,
    with_labels,
)
from tests.factories import (
    CustomerFactory,
    CustomerTagFactory,
    OrderFactory,
    SegmentFactory,
    SegmentMembershipFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


def _labelled_customer() -> Customer:
    customer = CustomerFactory.create(order_count=3, custom_values={"shoe_size": 42})
    for tag in ("vip", "Beta", "älter"):
        CustomerTagFactory.create(customer=customer, tag=tag)
    for name in ("b", "a"):
        segment = SegmentFactory.create(workspace=customer.workspace, name=name)
        SegmentMembershipFactory.create(customer=customer, segment=segment)
    return customer


def test_the_loader_reads_a_customer_with_its_tags_and_segments_in_one_query(
    django_assert_num_queries: Any,
) -> None:
    customer = _labelled_customer()
    expected = customer_to_json(Customer.objects.prefetch_related("tags", "segments").get())

    with django_assert_num_queries(1):
        snapshot = WorkspaceEntityLoader(customer.workspace_id).load("customer", customer.pk)

    assert snapshot == expected
    assert snapshot is not None
    assert snapshot["tags"] == sorted(["vip", "Beta", "älter"])
    assert len(snapshot["segments"]) == 2
    assert snapshot["shoe_size"] == 42


def test_with_labels_gives_a_customer_without_tags_empty_lists(
    django_assert_num_queries: Any,
) -> None:
    customer = CustomerFactory.create()

    with django_assert_num_queries(1):
        snapshot = customer_to_json(with_labels(Customer.objects.filter(pk=customer.pk)).get())

    assert snapshot["tags"] == []
    assert snapshot["segments"] == []


def test_the_loader_finds_nothing_in_another_workspace_or_for_an_unknown_id() -> None:
    customer = _labelled_customer()
    order = OrderFactory.create(customer=customer, workspace=customer.workspace)
    other = WorkspaceFactory.create()

    assert WorkspaceEntityLoader(other.pk).load("customer", customer.pk) is None
    assert WorkspaceEntityLoader(other.pk).load("order", order.pk) is None
    assert WorkspaceEntityLoader(customer.workspace_id).load("customer", customer.pk + 999) is None


def test_the_loader_reads_other_entities_once_per_loader(django_assert_num_queries: Any) -> None:
    customer = CustomerFactory.create()
    order = OrderFactory.create(customer=customer, workspace=customer.workspace)
    loader = WorkspaceEntityLoader(customer.workspace_id)

    with django_assert_num_queries(1):
        first = loader.load("order", order.pk)
        again = loader.load("order", order.pk)

    order.refresh_from_db()
    assert first == again == order_to_json(order)


def test_a_changed_customer_is_read_fresh_by_a_new_loader() -> None:
    customer = _labelled_customer()
    WorkspaceEntityLoader(customer.workspace_id).load("customer", customer.pk)
    CustomerTagFactory.create(customer=customer, tag="new")

    snapshot = WorkspaceEntityLoader(customer.workspace_id).load("customer", customer.pk)

    assert snapshot is not None
    assert "new" in snapshot["tags"]
