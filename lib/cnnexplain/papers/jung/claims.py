"""The claims of Jung, Shin & Kwon, influential scores, each a rule written before the data (:mod:`cnnexplain.claims`)."""

from __future__ import annotations

from cnnexplain.claims import ClaimBook, Outcome, graded, below_floor, not_checked  # noqa: F401

BOOK = ClaimBook("jung", "Jung, Shin & Kwon, influential scores")
