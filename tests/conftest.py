"""Make the checkout's own lib importable first, whatever is installed in the environment, and keep
torch to one thread per process: `make test` runs two pytest workers on two cores, and each notebook
kernel they start inherits OMP_NUM_THREADS; oversubscribed OpenMP threads made training 5-40x slower."""

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
