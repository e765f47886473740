"""Synthetic sample data generators for demos and tests."""
