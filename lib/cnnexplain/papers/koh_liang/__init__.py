"""Koh & Liang 2017, influence functions against leave-one-out retraining (notebook 50)."""
