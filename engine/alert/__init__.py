"""Alerts: rules matched at ingest (hyperscan), evaluated over sliding windows, notified."""
