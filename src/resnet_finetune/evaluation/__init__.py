"""Metrics and report figures; no Kedro."""
