"""Intune connector: pulls managedDevices from Microsoft Graph and publishes normalized snapshots (R-E1)."""
