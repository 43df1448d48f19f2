from decimal import Decimal

from invoicing import Invoice


def make_invoice(*prices: str) -> Invoice:
    invoice = Invoice()
    for n, price in enumerate(prices):
        invoice.add(f"item {n}", price)
    return invoice


def test_subtotal_sums_items():
    invoice = make_invoice("10.00", "2.50")
    invoice.add("bulk", "1.25", quantity=4)
    assert invoice.subtotal == Decimal("17.50")


def test_small_order_total_includes_tax():
    assert make_invoice("40.00", "40.00").total == Decimal("86.60")


def test_discount_applies_from_one_hundred():
    invoice = make_invoice("60.00", "40.00")
    assert invoice.discount == Decimal("10.00")
    assert invoice.total == Decimal("97.43")


def test_large_order_total():
    assert make_invoice("200.00").total == Decimal("194.85")


def test_empty_invoice():
    assert make_invoice().total == Decimal("0.00")
