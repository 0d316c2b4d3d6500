"""Loopback http target servers for tests (to be written)."""
