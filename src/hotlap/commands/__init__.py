"""Subcommands other than ``run``: the wiring of domain packages (history, impact, watch) to
the views (headless log, dashboard). They sit above every domain package, beside the CLI."""
