"""Order tests: a module fixture, a failure with log output, a fixture error and a skip."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

log = logging.getLogger("demo.orders")


@dataclass(frozen=True)
class Order:
    id: int
    amount: float


@pytest.fixture(scope="module")
def order_book(database: object) -> Iterator[list[Order]]:
    """Module scope, built on the session database."""
    time.sleep(0.3)
    yield [Order(n, 10.0 * n) for n in range(1, 11)]
    time.sleep(0.15)


@pytest.mark.parametrize("order_id", range(1, 11))
def test_order_lifecycle(
    order_book: list[Order], sandbox: dict[str, object], order_id: int
) -> None:
    order = order_book[order_id - 1]
    assert order.id == order_id
    log.info("order %s: placed, paid, shipped", order_id)


def test_refund_rounding(order_book: list[Order]) -> None:
    order = order_book[0]
    parts = [round(order.amount / 3, 2)] * 3
    print(f"refunding order {order.id} in three parts: {parts}")
    log.warning("refund parts may not add up to the original amount")
    refunded = {"id": order.id, "amount": round(sum(parts), 2)}
    assert refunded == {"id": 1, "amount": 10.0}


def test_payment_gateway(payment_gateway: object) -> None:
    assert payment_gateway is not None


def test_invoice_pdf() -> None:
    pytest.importorskip("hotlap_demo_pdf_renderer", reason="demo: optional PDF renderer")
