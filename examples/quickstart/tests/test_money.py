from decimal import Decimal

from invoicing.money import percent, to_money


def test_rounds_half_up():
    assert to_money("2.345") == Decimal("2.35")
    assert to_money("2.344") == Decimal("2.34")


def test_percent():
    assert percent(Decimal("80.00"), Decimal("8.25")) == Decimal("6.60")
