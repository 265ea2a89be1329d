"""Import torchvision on a CPU-only torch whose wheel cannot load torchvision's compiled extension.

The torchvision 0.28.0 wheel's C extension is built against CUDA torch; on the CPU build of torch
2.13.0 it fails to load, and ``import torchvision`` then dies in ``_meta_registrations`` with
``RuntimeError: operator torchvision::nms does not exist``, because it registers fake kernels for two
operators whose schemas the extension would have defined. Defining those two schemas first lets the
pure-Python parts (models, weights, transforms.v2, datasets) import; the compiled ops themselves
(nms, roi_align, ...) stay unavailable and raise torchvision's own error if called.

Use ``from cnnexplain.compat import torchvision`` (or call :func:`import_torchvision`) before any
other torchvision import. On a normal install this does nothing but import torchvision.
"""

from __future__ import annotations

import sys
import warnings

import torch

# The schemas torchvision's C++ extension defines for the operators that _meta_registrations.py
# registers with torch.library.register_fake (the others are guarded by extension._has_ops()).
_MISSING_OP_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
_MARKER = "torchvision::nms does not exist"
_library = None  # keeps the torch.library.Library alive: dropping it would unregister the schemas
patched = False  # True when the work-around was needed in this process


def _forget_partial_import() -> None:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision():
    """Return the ``torchvision`` module, registering the missing operator schemas only if needed."""
    global _library, patched
    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "models"):
        return sys.modules["torchvision"]
    try:
        import torchvision

        return torchvision
    except RuntimeError as error:
        if _MARKER not in str(error):
            raise
    _forget_partial_import()
    if _library is None:
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _MISSING_OP_SCHEMAS:
            _library.define(schema)
    patched = True
    warnings.warn(
        "torchvision's compiled ops do not load on this CPU-only torch; models, transforms and datasets "
        "work, detection ops (nms, roi_align) do not",
        RuntimeWarning,
        stacklevel=2,
    )
    import torchvision

    return torchvision


torchvision = import_torchvision()
