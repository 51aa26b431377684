"""Rollback safety rules (rules.py), enforced by the components and by the CrossGuard pack
(pack.py), which the Pulumi CLI runs from PACK_FOLDER (`python -m rollback_guard.policy` prints it)."""

from pathlib import Path

# Shipped in the wheel as package data: PulumiPolicy.yaml and the __main__.py that serves pack.py.
PACK_FOLDER = Path(__file__).resolve().parent / "crossguard-pack"
