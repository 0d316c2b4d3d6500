"""Loopback dns target servers for tests (to be written)."""
