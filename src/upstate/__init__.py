"""Upstate: a self-hosted uptime monitor and public status page."""

__version__ = "0.1.0"
