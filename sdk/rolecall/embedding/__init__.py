"""rolecall.embedding."""
