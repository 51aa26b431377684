"""Rollback safety rules (rules.py), enforced by the components and by the CrossGuard pack."""
