"""The claims of Koh & Liang 2017, influence functions, each a rule written before the data (:mod:`cnnexplain.claims`)."""

from __future__ import annotations

from cnnexplain.claims import ClaimBook, Outcome, graded, below_floor, not_checked  # noqa: F401

BOOK = ClaimBook("koh_liang", "Koh & Liang 2017, influence functions")
