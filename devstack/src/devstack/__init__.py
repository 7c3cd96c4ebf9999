"""Embedded infrastructure and demo/bench orchestration for the device ledger."""
