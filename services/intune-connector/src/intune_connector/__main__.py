"""`python -m intune_connector`: the connector process, configured by `INTUNE_CONNECTOR_*` (settings.py)."""

from .service import main  # also the `intune-connector` console script

if __name__ == "__main__":
    main()
