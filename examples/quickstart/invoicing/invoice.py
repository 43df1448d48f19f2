"""Invoices: line items, discount and tax."""

from dataclasses import dataclass, field
from decimal import Decimal

from invoicing.discounts import volume_discount
from invoicing.money import percent, to_money


@dataclass(frozen=True)
class LineItem:
    """A product line: unit price times quantity."""

    description: str
    unit_price: Decimal
    quantity: int = 1

    @property
    def amount(self) -> Decimal:
        return to_money(self.unit_price * self.quantity)


@dataclass
class Invoice:
    """An order with a sales-tax rate in percent."""

    tax_rate: Decimal = Decimal("8.25")
    items: list[LineItem] = field(default_factory=list)

    def add(self, description: str, unit_price: str, quantity: int = 1) -> None:
        self.items.append(LineItem(description, Decimal(unit_price), quantity))

    @property
    def subtotal(self) -> Decimal:
        return to_money(sum((item.amount for item in self.items), Decimal(0)))

    @property
    def discount(self) -> Decimal:
        return volume_discount(self.subtotal)

    @property
    def tax(self) -> Decimal:
        return percent(self.subtotal - self.discount, self.tax_rate)

    @property
    def total(self) -> Decimal:
        return to_money(self.subtotal - self.discount + self.tax)
