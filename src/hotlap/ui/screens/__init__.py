"""Screens of the dashboard besides the main one."""
