"""The dashboard's widgets; each reads the run's state and renders it, nothing more."""
