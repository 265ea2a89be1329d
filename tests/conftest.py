"""Shared test set-up.

- The checkout's own lib is imported first, whatever is installed in the environment.
- torch keeps to one thread per process: `make test` runs two pytest workers on two cores, and each
  notebook kernel they start inherits OMP_NUM_THREADS; oversubscribed OpenMP threads made training
  5-40x slower, and the tests' nets are tiny anyway.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gap_net():
    """A small global-average-pooling CNN (CAM's architecture) for 1-channel 16x16 inputs, 3 classes."""
    from cnnexplain.models.cnns import GAPCNN

    torch.manual_seed(0)
    return GAPCNN(in_channels=1, num_classes=3, width=4).eval()
