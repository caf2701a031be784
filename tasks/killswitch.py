"""Prefect tasks around the kill-switch store and the kill event (in progress)."""
