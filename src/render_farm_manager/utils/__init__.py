"""Audit logging and performance monitoring (the seed's ``utils`` package)."""
