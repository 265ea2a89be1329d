"""The progress bar every long loop uses: tqdm.auto in JupyterLab and terminals, silent under the batch
runner (no one watches a headless kernel, and widget bars would bloat the executed notebooks)."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

HEADLESS_ENV = "CNNEXPLAIN_HEADLESS"


def is_headless() -> bool:
    """True under the batch runner / papermill, where no frontend can render a widget."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0", "false", "False")


def progress(iterable=None, desc: str | None = None, total: int | None = None, **kwargs):
    """``tqdm.auto.tqdm`` over ``iterable``, disabled when headless (or when ``disable=True`` is passed)."""
    kwargs.setdefault("leave", False)
    disable = kwargs.pop("disable", False) or is_headless()
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
