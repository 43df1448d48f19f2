from decimal import Decimal

from invoicing.discounts import volume_discount


def test_small_orders_pay_full_price():
    assert volume_discount(Decimal("99.99")) == Decimal("0.00")


def test_large_orders_get_ten_percent():
    assert volume_discount(Decimal("250.00")) == Decimal("25.00")


def test_zero_subtotal():
    assert volume_discount(Decimal("0.00")) == Decimal("0.00")
