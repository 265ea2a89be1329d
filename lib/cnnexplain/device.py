"""Device choice: CUDA when present, else CPU, overridable by the CNNEXPLAIN_DEVICE variable."""

from __future__ import annotations

import os

import torch


def choose_device(preferred: str | None = None) -> torch.device:
    """Return ``preferred`` (or ``$CNNEXPLAIN_DEVICE``) if given, else CUDA when available, else CPU.

    Asking for CUDA on a machine without it is an error, not a silent fallback.
    """
    name = preferred or os.environ.get("CNNEXPLAIN_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} was requested but CUDA is not available here; use 'cpu' "
            "or unset CNNEXPLAIN_DEVICE"
        )
    return device
