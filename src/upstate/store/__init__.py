"""See DESIGN.md: the store layer."""
