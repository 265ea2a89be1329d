"""The torchvision start-up hook (cnnexplain.compat installed into site-packages by ``make install``).

A plain ``import torchvision`` must work in every interpreter of the project's environment, also one that
imports nothing of ours; the hook must do nothing where torchvision's extension loads, and must not swallow
other errors. The fake torchvision packages below stand in for "extension loads" and "extension missing".
"""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT / "lib" / "cnnexplain" / "compat.py"
HOOK = "cnnexplain_torchvision_hook"


def python(code: str, *options: str, cwd: Path | None = None, timeout: float = 240):
    """Run ``code`` in a fresh interpreter of this environment without our lib (or anything) on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    return subprocess.run([sys.executable, *options, "-c", code], capture_output=True, text=True, env=env,
                          cwd=cwd or Path("/"), timeout=timeout)


def test_plain_import_torchvision_works_in_a_fresh_interpreter(tmp_path):
    proc = python("import sys, torchvision\n"
                  "net = torchvision.models.resnet18()\n"
                  "assert not any(m == 'cnnexplain' or m.startswith('cnnexplain.') for m in sys.modules)\n"
                  "print(type(net).__name__)", cwd=tmp_path)
    assert proc.returncode == 0, ("`import torchvision` fails in this environment; run `make install` (it "
                                  f"installs the start-up hook):\n{proc.stderr[-2000:]}")
    assert proc.stdout.strip() == "ResNet"


def test_install_writes_the_hook_and_uninstall_removes_it(tmp_path):
    for action in ("install", "uninstall"):
        proc = subprocess.run([sys.executable, "-I", str(COMPAT), action, "--site-packages", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        if action == "install":
            assert (tmp_path / f"{HOOK}.py").read_text() == COMPAT.read_text()
            assert (tmp_path / f"{HOOK}.pth").read_text() == f"import {HOOK}; {HOOK}.install()\n"
            assert list((tmp_path / "__pycache__").glob(f"{HOOK}.*.pyc"))  # compiled: start-up stays fast
    assert list(tmp_path.iterdir()) == []


def test_makefile_installs_the_hook():
    makefile = (ROOT / "Makefile").read_text()
    assert "lib/cnnexplain/compat.py install" in makefile


def fake_torchvision(folder: Path, init: str) -> Path:
    (folder / "torchvision").mkdir(parents=True)
    (folder / "torchvision" / "__init__.py").write_text(textwrap.dedent(init))
    (folder / "torchvision" / "models.py").write_text("NAME = 'models'\n")
    return folder


def run_with_hook(tmp_path, fake_init: str, body: str):
    """A fresh interpreter with this checkout's hook installed in a site folder that comes before the
    environment's site-packages (which may hold an installed copy), and a fake torchvision before the real."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run([sys.executable, "-I", str(COMPAT), "install", "--site-packages", str(site)], check=True,
                   capture_output=True, timeout=60)
    fake = fake_torchvision(tmp_path / "fake", fake_init)
    code = ("import site, sys, warnings\nwarnings.simplefilter('always')\n"
            f"site.addsitedir({str(site)!r})\nsite.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
            f"sys.path.insert(0, {str(fake)!r})\n"
            f"import {HOOK} as hook\nassert hook.__file__ == {str(site / (HOOK + '.py'))!r}\n"
            + textwrap.dedent(body))
    return python(code, "-S", cwd=tmp_path)


def test_hook_is_a_no_op_where_the_extension_loads(tmp_path):
    proc = run_with_hook(tmp_path, "from torchvision import models\n", """
        import torchvision
        from importlib.machinery import SourceFileLoader
        assert type(torchvision.__loader__) is SourceFileLoader, torchvision.__loader__
        assert type(torchvision.__spec__.loader) is SourceFileLoader
        print(torchvision.models.NAME, hook.torchvision_patched())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["models", "False"]
    assert "RuntimeWarning" not in proc.stderr


def test_hook_defines_the_missing_schemas_quietly(tmp_path):
    # torchvision's own failure: _meta_registrations needs the schema of torchvision::nms
    broken = """
        import torch
        from torchvision import models
        try:
            torch.ops.torchvision.nms.default
        except (AttributeError, RuntimeError):
            raise RuntimeError("operator torchvision::nms does not exist")
    """
    proc = run_with_hook(tmp_path, broken, """
        import torchvision
        import torchvision.models
        print(torchvision.models.NAME, hook.torchvision_patched())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["models", "True"]
    assert "Warning" not in proc.stderr  # cnnexplain.compat warns; a student's plain import stays quiet


def test_hook_does_not_swallow_other_errors(tmp_path):
    proc = run_with_hook(tmp_path, "raise RuntimeError('something else entirely')\n", """
        try:
            import torchvision
        except RuntimeError as error:
            print('raised', error, hook.torchvision_patched())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "raised something else entirely False"
