"""Starts pytest in its own process group, owns the event socket, cancels cleanly."""
