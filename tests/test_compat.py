"""The torchvision work-around: models, transforms.v2 and datasets import on the CPU-only torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_torchvision_parts_work():
    from cnnexplain.compat import torchvision
    from torchvision.transforms import v2
    import torch

    net = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    x = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(torch.zeros(3, 8, 8, dtype=torch.uint8))
    assert x.dtype == torch.float32
    assert hasattr(torchvision.datasets, "MNIST")


def test_fresh_interpreter_gets_one_warning_or_none():
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import cnnexplain.compat as c\n"
            "import torchvision.models\n"
            "print('patched' if c.patched else 'plain')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "RuntimeWarning" in line]
    if proc.stdout.strip() == "patched":
        assert len(warnings) == 1 and "compiled ops" in warnings[0]
    else:  # a normal install: the module does nothing but import torchvision
        assert warnings == []


def test_unrelated_import_errors_are_not_swallowed(monkeypatch):
    import builtins

    import pytest

    import cnnexplain.compat as compat

    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name == "torchvision":
            raise RuntimeError("something else entirely")
        return real_import(name, *args, **kwargs)

    saved = {k: v for k, v in sys.modules.items() if k.startswith("torchvision")}
    for k in saved:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(RuntimeError, match="something else"):
        compat.import_torchvision()
