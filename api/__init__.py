"""Facet's HTTP service. Only this package knows about HTTP."""
