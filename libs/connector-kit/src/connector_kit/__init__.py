"""What every MDM connector shares (filled in by the connector-kit work)."""
