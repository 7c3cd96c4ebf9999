"""Jamf Pro connector: pulls computers and mobile devices, publishes normalized snapshots (SPEC §3)."""
