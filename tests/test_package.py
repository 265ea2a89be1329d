"""cnnexplain as a package: metadata in one place, ranges that agree with the pins, and a wheel that holds every
module and data file of the library (built, then installed into a throw-away venv with --no-deps)."""

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "cnnexplain"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SUBPACKAGES = ("methods", "papers", "data", "models", "notebook")


def version_in_init() -> str:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    return next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "__version__" for t in node.targets))


def pins(name: str = "requirements.txt") -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {canonicalize_name(name): version.strip() for name, version in pairs}


def declared() -> dict[str, Requirement]:
    """Every requirement of the package and its extras (self-references like cnnexplain[notebooks] left out)."""
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    reqs += [Requirement(r) for extra in PROJECT["optional-dependencies"].values() for r in extra]
    return {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != "cnnexplain"}


def test_the_version_is_written_in_one_place():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnexplain.__version__"}
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == version_in_init()
    assert citation["license"] == PROJECT["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")


def test_citation_lists_the_four_papers():
    titles = {r["title"] for r in yaml.safe_load((ROOT / "CITATION.cff").read_text())["references"]}
    for words in ("influence functions", "Contribution of Nodes", "NeuroView", "Interpretability Research"):
        assert any(words.lower() in t.lower() for t in titles), words


def test_extras_and_console_script():
    assert set(PROJECT["optional-dependencies"]) == {"notebooks", "browser", "dask", "docs", "dev"}
    assert PROJECT["scripts"] == {"cnnexplain-reproduce": "cnnexplain.notebook.reproduce:main"}


def test_every_pin_lies_in_its_declared_range_and_ranges_are_bounded():
    """Each pin of requirements.txt is declared with a range that holds it; a declared package that is not
    pinned (it comes with the pinned ones) has its installed version in the range."""
    pinned, ranges = pins(), declared()
    assert set(pinned) <= set(ranges), f"pinned but not declared: {sorted(set(pinned) - set(ranges))}"
    docs = pins("requirements-docs.txt")
    assert not set(docs) & set(pinned), "requirements-docs.txt may only add packages to requirements.txt"
    pinned.update({name: docs[name] for name in ("sphinx", "myst-nb")})
    for name, requirement in ranges.items():
        version = pinned.get(name) or metadata.version(name)
        source = f"requirements.txt pins {name}=={version}" if name in pinned else f"{name} {version} is installed"
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{source}, outside pyproject.toml's {requirement}"
        assert any(s.operator in (">=", "~=") for s in requirement.specifier), f"{requirement}: no lower bound"


def third_party_imports() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("cnnexplain", "__future__")}


def test_every_imported_library_is_declared():
    distributions = metadata.packages_distributions()
    names = set(declared())
    missing = {module: distributions.get(module, ["?"]) for module in third_party_imports()
               if not {canonicalize_name(d) for d in distributions.get(module, [])} & names}
    assert not missing, f"imported by lib/cnnexplain but not declared in pyproject.toml: {missing}"


def test_makefile_installs_exact_pins_and_the_package_without_its_ranges():
    lines = [line.strip() for line in (ROOT / "Makefile").read_text().splitlines() if "pip install" in line]
    assert lines
    for line in lines:
        assert ("$(TORCH_PIN)" in line or "-r requirements.txt" in line or "-r requirements-docs.txt" in line
                or "--no-deps" in line), line


# ----------------------------------------------------------------------------------------------- the wheel


def source_files() -> list[str]:
    """The library's files as git tracks them (every file under lib/cnnexplain when git is not there)."""
    try:
        out = subprocess.run(["git", "ls-files", "lib/cnnexplain"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    files = [Path(p) for p in out if (ROOT / p).is_file()] or \
        [p.relative_to(ROOT) for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(str(p.relative_to("lib")) for p in files)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the checkout (no build/ or egg-info left in it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (built,) = (tmp / "dist").glob("cnnexplain-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file(wheel):
    version = version_in_init()
    assert wheel.name == f"cnnexplain-{version}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"cnnexplain-{version}.dist-info"
    missing = [f for f in source_files() if f not in names]
    assert not missing, ("files of lib/cnnexplain missing from the wheel (a data file needs a "
                         f"[tool.setuptools.package-data] rule in pyproject.toml): {missing}")
    for sub in SUBPACKAGES:
        assert f"cnnexplain/{sub}/__init__.py" in names
    stray = [n for n in names if not n.startswith(("cnnexplain/", dist_info + "/")) or "__pycache__" in n]
    assert not stray, f"the wheel holds more than the package: {stray[:10]}"
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(f"{dist_info}/METADATA").decode()
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
        assert "MIT License" in z.read(f"{dist_info}/licenses/LICENSE").decode()
    assert f"Version: {version}" in meta
    assert "License-Expression: MIT" in meta
    assert "Requires-Dist: torch~=2." in meta
    assert 'Requires-Dist: papermill~=2.7; extra == "notebooks"' in meta
    assert "cnnexplain-reproduce = cnnexplain.notebook.reproduce:main" in entry_points


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_throw_away_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                           "--no-index", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    installed = sorted(str(p.relative_to(site)) for p in (site / "cnnexplain").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    assert installed == source_files()

    # Run the installed package with this environment's libraries behind it (PYTHONPATH holds no cnnexplain:
    # the checkout's editable install is a .pth, which PYTHONPATH folders do not read).
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    code = ("import importlib, pkgutil, cnnexplain\n"
            "names = [m.name for m in pkgutil.walk_packages(cnnexplain.__path__, 'cnnexplain.')]\n"
            "for name in names: importlib.import_module(name)\n"
            "print(cnnexplain.__file__, cnnexplain.__version__, len(names))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, version, count = proc.stdout.split()
    assert Path(where).is_relative_to(site) and version == version_in_init() and int(count) > 30

    script = venv / "bin" / "cnnexplain-reproduce"
    assert script.is_file()
    proc = subprocess.run([str(script), "--profile", "smoke"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "--notebooks-dir" in proc.stderr, proc.stderr[-2000:]
    proc = subprocess.run([str(script), "--profile", "smoke", "--notebooks-dir", str(ROOT / "notebooks"),
                           "--notebooks", "no_such_notebook"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "unknown notebook(s): no_such_notebook" in proc.stderr, proc.stderr[-2000:]
    assert "00_tour" in proc.stderr  # it read the checkout's notebooks
