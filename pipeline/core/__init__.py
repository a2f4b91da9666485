"""Foundations every stage shares: typed errors, image reading and writing, limits, publishing results."""
