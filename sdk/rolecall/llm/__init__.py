"""rolecall.llm."""
