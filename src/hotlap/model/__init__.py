"""RunState: a pure reducer over protocol events."""
