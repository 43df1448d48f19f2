"""Volume discounts.

Orders whose subtotal is 100.00 or more get 10% off; smaller orders pay full price.
"""

from decimal import Decimal

from invoicing.money import percent

THRESHOLD = Decimal("100.00")
RATE = Decimal(10)


def volume_discount(subtotal: Decimal) -> Decimal:
    """Discount granted on ``subtotal`` (a non-negative amount in cents)."""
    if subtotal > THRESHOLD:
        return percent(subtotal, RATE)
    return Decimal("0.00")
