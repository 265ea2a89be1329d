"""Barberan, Balestriero & Baraniuk, NeuroView (notebooks 30-32)."""
