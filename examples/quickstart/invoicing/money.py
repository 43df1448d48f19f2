"""Money helpers: amounts are Decimals rounded half-up to cents."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round ``value`` to whole cents, halves away from zero."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def percent(amount: Decimal, rate: Decimal) -> Decimal:
    """``rate`` percent of ``amount``, in cents."""
    return to_money(amount * rate / Decimal(100))
