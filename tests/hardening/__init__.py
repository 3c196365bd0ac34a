"""Fixture builders for the hardening tests (privacy canary, degenerate and hostile studies)."""
