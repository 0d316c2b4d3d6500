"""See DESIGN.md: the agent layer."""
