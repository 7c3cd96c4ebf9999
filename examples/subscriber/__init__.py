"""An example subscriber to `ledger.changes.v1` that other teams can copy (see README.md)."""

from .subscriber import DeviceMirror, build_app, build_broker

__all__ = ["DeviceMirror", "build_app", "build_broker"]
