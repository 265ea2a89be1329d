"""Aamir, Tamosiunaite & Wörgötter 2023, layer-wise influence on disturbed images (notebooks 20-24)."""
