"""`python -m jamf_connector`: the connector process, configured by `JAMF_CONNECTOR_*` (settings.py)."""

from .service import main  # also the `jamf-connector` console script

if __name__ == "__main__":
    main()
