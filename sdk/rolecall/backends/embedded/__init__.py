"""rolecall.backends.embedded."""
