"""rolecall.agent."""
