"""Prompt construction: token budgets and a byte-stable prompt layout."""
