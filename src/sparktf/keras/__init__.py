"""Keras integration: model families, the epoch-reporting callback, thread settings."""
