"""Query rewriters: rules (offline default) and, with an LLM, `LLMRewriter`."""
