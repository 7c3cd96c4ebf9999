"""What every MDM connector shares: the FastStream sync-request subscriber, credentials, logging,
retry with Retry-After (stamina), and the sync-run skeleton. See README.md."""

from .connector import Connector
from .credentials import CredentialsError, IntegrationsFile, field_problems, open_credentials, open_sealed
from .logs import configure_logging
from .retry import RetryPolicy, RetryStats, parse_retry_after
from .run import ListPublisher, Publisher, PullResult, SyncRun, redact, safe_error
from .settings import ConnectorSettings

__all__ = [
    "Connector",
    "ConnectorSettings",
    "CredentialsError",
    "IntegrationsFile",
    "ListPublisher",
    "Publisher",
    "PullResult",
    "RetryPolicy",
    "RetryStats",
    "SyncRun",
    "configure_logging",
    "field_problems",
    "open_credentials",
    "open_sealed",
    "parse_retry_after",
    "redact",
    "safe_error",
]
