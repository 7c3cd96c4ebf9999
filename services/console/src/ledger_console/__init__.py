"""The administrators web console (server-rendered, public HTTP API only)."""
