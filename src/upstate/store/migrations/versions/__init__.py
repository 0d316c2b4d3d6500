"""Revisions, named rev_<id>_<slug>.py with sequential ids (0001, 0002, ...)."""
