"""Jung, Shin & Kwon, influential scores (notebooks 10-12)."""
