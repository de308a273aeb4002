"""Helpers shared by the daemon acceptance tests (not tests themselves)."""
