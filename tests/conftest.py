"""Shared test set-up.

- The checkout's own lib is imported first, whatever is installed in the environment.
- torch keeps to one thread per process: `make test` runs two pytest workers on two cores, and each
  notebook kernel they start inherits OMP_NUM_THREADS; oversubscribed OpenMP threads made training
  5-40x slower, and the tests' nets are tiny anyway.
- Everything cached during the session (trained studies, stylized images, downloads) goes to a temporary
  folder removed at the end, never to ~/.cache/cnnexplain: CNNEXPLAIN_CACHE is set here, before any test
  or notebook kernel (which inherits it) runs. ``CNNEXPLAIN_TEST_CACHE=<folder>`` keeps a test cache of
  your choosing between runs instead.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

_SESSION_CACHE = None if os.environ.get("CNNEXPLAIN_TEST_CACHE") else tempfile.mkdtemp(prefix="cnnexplain-test-cache-")
os.environ["CNNEXPLAIN_CACHE"] = os.environ.get("CNNEXPLAIN_TEST_CACHE") or _SESSION_CACHE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A test that sets its own thread count (the paper-path smoke test takes 2) gives it back: left at 2, it
    made a later test in the same worker fail — Gatys texture synthesis is not bitwise repeatable with 2
    threads (0 of 10 same-seed pairs equal; 10 of 10 with 1)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gap_net():
    """A small global-average-pooling CNN (CAM's architecture) for 1-channel 16x16 inputs, 3 classes."""
    from cnnexplain.models.cnns import GAPCNN

    torch.manual_seed(0)
    return GAPCNN(in_channels=1, num_classes=3, width=4).eval()


@pytest.fixture
def tiny_relu_problem():
    """A float64 conv + two Linear ReLU net (3 blocks) with 6 Hessian images of 8x8 and 4 classes: small enough
    for dense reference inverses (tests/test_aamir_exact_ihvp.py, tests/test_aamir_grid.py)."""
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 5),
                          nn.ReLU(), nn.Linear(5, 4)).double().eval()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    return model, x, y


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
