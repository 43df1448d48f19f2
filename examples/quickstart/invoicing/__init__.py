"""Order totals with a volume discount and sales tax."""

from invoicing.invoice import Invoice, LineItem

__all__ = ["Invoice", "LineItem"]
