"""Import torchvision on a CPU-only torch whose wheel cannot load torchvision's compiled extension.

The torchvision 0.28.0 wheel's C extension is built against CUDA torch; on the CPU build of torch 2.13.0 it
does not load, and ``import torchvision`` then dies in ``_meta_registrations`` with ``RuntimeError: operator
torchvision::nms does not exist``, because it registers fake kernels for two operators whose schemas the
extension would have defined. Defining those two schemas and importing again lets the pure-Python parts
(models, weights, transforms.v2, datasets) import; the compiled ops themselves (nms, roi_align, ...) stay
unavailable and raise torchvision's own error if called.

:func:`install` puts a finder on ``sys.meta_path`` that wraps torchvision's loader: the real import runs
first, and only if it fails with exactly that error are the schemas defined and the import repeated, silently
(calling a compiled op raises torchvision's own error; :func:`import_torchvision` warns once). Where the
extension loads (a normal install), the finder does nothing but step aside.

Use ``from cnnexplain.compat import torchvision`` (or call :func:`import_torchvision`) before any other
torchvision import where the start-up hook may be missing.

The start-up hook: this file imports nothing but the standard library (torch only when the import fails), so
it can run at interpreter start-up. ``python lib/cnnexplain/compat.py install`` (what ``make install`` runs)
copies it into the environment's site-packages as ``cnnexplain_torchvision_hook.py`` next to a
``cnnexplain_torchvision_hook.pth`` that imports it and calls :func:`install`, so ``import torchvision`` works
in every interpreter of that environment, notebook kernels and scripts that import nothing of ours included.
``python lib/cnnexplain/compat.py uninstall`` removes both.
"""

from __future__ import annotations

import sys
import warnings

# The schemas torchvision's C++ extension defines for the operators that _meta_registrations.py
# registers with torch.library.register_fake (the others are guarded by extension._has_ops()).
MISSING_OP_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
MARKER = "torchvision::nms does not exist"
WARNING = ("torchvision's compiled ops do not load on this CPU-only torch; models, transforms and datasets "
           "work, detection ops (nms, roi_align) do not")
HOOK_NAME = "cnnexplain_torchvision_hook"  # the module's name when installed as a start-up hook


class TorchvisionFinder:
    """Finds ``torchvision`` with the other finders and hands back its spec with :class:`_RetryingLoader`.

    A meta-path finder by protocol (no ``importlib.abc`` base: importing that costs start-up time)."""

    is_cnnexplain_torchvision_finder = True  # how install() recognises a finder from another copy of this file

    def __init__(self):
        self.patched = False  # True once the work-around was needed in this process
        self._library = None  # keeps the torch.library.Library alive: dropping it unregisters the schemas
        self._searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision" or self._searching:
            return None
        self._searching = True
        try:
            for finder in sys.meta_path:
                if finder is self or getattr(finder, "is_cnnexplain_torchvision_finder", False):
                    continue
                find = getattr(finder, "find_spec", None)
                spec = find(fullname, path, target) if find else None
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._searching = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RetryingLoader(spec.loader, self)
        return spec

    def define_missing_schemas(self) -> None:
        import torch

        if self._library is None:
            self._library = torch.library.Library("torchvision", "DEF")
            for schema in MISSING_OP_SCHEMAS:
                self._library.define(schema)
        self.patched = True


class _RetryingLoader:
    def __init__(self, loader, finder: TorchvisionFinder):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        try:
            try:
                self.loader.exec_module(module)
                return
            except RuntimeError as error:
                if MARKER not in str(error):
                    raise
            for name in [n for n in sys.modules if n.startswith("torchvision.")]:
                del sys.modules[name]  # the half-imported submodules run again below
            self.finder.define_missing_schemas()
            self.loader.exec_module(module)
        finally:  # leave torchvision with its own loader, as if this hook had never been there
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader

    def __getattr__(self, name):  # get_resource_reader, get_source, ...: the real loader's
        return getattr(self.loader, name)


def install() -> TorchvisionFinder:
    """Put the finder first on ``sys.meta_path`` (once per process, whichever copy of this file came first)."""
    for finder in sys.meta_path:
        if getattr(finder, "is_cnnexplain_torchvision_finder", False):
            return finder
    finder = TorchvisionFinder()
    sys.meta_path.insert(0, finder)
    return finder


def torchvision_patched() -> bool:
    """Whether the work-around was needed in this process (by any installed copy of the finder)."""
    return any(getattr(f, "is_cnnexplain_torchvision_finder", False) and f.patched for f in sys.meta_path)


def _site_packages():
    import sysconfig
    from pathlib import Path

    return Path(sysconfig.get_paths()["purelib"])


def install_startup_hook(site_packages=None):
    """Copy this file into ``site_packages`` (default: this interpreter's) with a ``.pth`` that imports it."""
    import py_compile
    import shutil
    from pathlib import Path

    target = Path(site_packages or _site_packages())
    shutil.copyfile(Path(__file__).resolve(), target / f"{HOOK_NAME}.py")
    try:  # compiled now, so start-up stays at about a millisecond also where no .pyc may be written
        py_compile.compile(str(target / f"{HOOK_NAME}.py"), doraise=True)
    except (OSError, py_compile.PyCompileError):
        pass
    (target / f"{HOOK_NAME}.pth").write_text(f"import {HOOK_NAME}; {HOOK_NAME}.install()\n")
    return target


def uninstall_startup_hook(site_packages=None):
    import contextlib
    from pathlib import Path

    target = Path(site_packages or _site_packages())
    for suffix in (".pth", ".py"):
        (target / f"{HOOK_NAME}{suffix}").unlink(missing_ok=True)
    for cached in (target / "__pycache__").glob(f"{HOOK_NAME}.*.pyc"):
        cached.unlink()
    with contextlib.suppress(OSError):  # only if nothing else is cached there
        (target / "__pycache__").rmdir()
    return target


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Install or remove the start-up hook that makes "
                                                 "'import torchvision' work on a CPU-only torch.")
    parser.add_argument("action", choices=["install", "uninstall"])
    parser.add_argument("--site-packages", help="target folder (default: this interpreter's site-packages)")
    args = parser.parse_args(argv)
    if args.action == "install":
        print(f"torchvision start-up hook installed in {install_startup_hook(args.site_packages)}")
    else:
        print(f"torchvision start-up hook removed from {uninstall_startup_hook(args.site_packages)}")
    return 0


patched = False  # True when the work-around was needed in this process


def import_torchvision():
    """Return the ``torchvision`` module, registering the missing operator schemas only if needed."""
    global patched
    install()
    module = sys.modules.get("torchvision")
    if module is None or not hasattr(module, "models"):
        import torchvision as module
    if torchvision_patched() and not patched:
        patched = True
        warnings.warn(WARNING, RuntimeWarning, stacklevel=2)
    return module


if __name__ == "__main__":
    sys.exit(main())
elif __name__ != HOOK_NAME:  # the library's module (the start-up copy only installs the finder)
    torchvision = import_torchvision()
