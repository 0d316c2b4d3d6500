"""Loopback tls target servers for tests (to be written)."""
