"""See DESIGN.md: the scheduler layer."""
