"""Feature extraction (work in progress)."""
