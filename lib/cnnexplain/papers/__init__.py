"""One package per paper: its study presets, analyses, figures and claims (the rules that turn measured
values into verdicts, :mod:`cnnexplain.claims`). Papers may use methods, data, models and the notebook
helpers; only papers import papers."""

import importlib

PAPERS = ("jung", "aamir", "neuroview", "survey", "koh_liang")


def claim_books() -> list:
    """Every paper's :class:`~cnnexplain.claims.ClaimBook` (``cnnexplain.papers.<paper>.claims.BOOK``)."""
    return [importlib.import_module(f"cnnexplain.papers.{paper}.claims").BOOK for paper in PAPERS]
