"""Measuring the machine and the test processes (psutil). Textual-free."""
