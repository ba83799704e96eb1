"""Connectors: one class per Kind, each with the same contract (save, check, open). See registry.py."""
