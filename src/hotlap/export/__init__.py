"""Exports for CI: pytest-split durations, the versioned JSON report, the raw event record."""
