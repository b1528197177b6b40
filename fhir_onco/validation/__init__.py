"""Validation: structural, bundle integrity, clinical plausibility and profile conformance."""
