"""Loopback tcp target servers for tests (to be written)."""
