"""rolecall.pipeline."""
