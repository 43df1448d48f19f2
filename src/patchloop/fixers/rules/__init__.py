"""Repair templates, one module per bug kind; :mod:`patchloop.fixers.catalogue` lists them."""
