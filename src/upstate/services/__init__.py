"""Use cases: what Upstate does, above storage and probes, below the web and the loops."""
