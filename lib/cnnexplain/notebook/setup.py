"""The first call of every notebook: :func:`setup_notebook`.

Two ways a notebook runs, and where its outputs go:

- by the batch runner (``python -m cnnexplain.notebook.reproduce``, which sets ``$CNNEXPLAIN_OUTPUT_DIR``):
  the runner has injected ``PROFILE`` and that profile's overrides from ``notebooks/profiles.toml``;
  outputs go to the runner's temporary folder, which becomes ``results/<notebook>/``
  (``results/<profile>/<notebook>/`` for smoke and paper) and feeds the report;
- by hand (JupyterLab, a reader or a student): setting ``PROFILE = "smoke"`` (or ``"paper"``) in the
  parameters cell is enough — :func:`setup_notebook` applies that profile's overrides to the notebook's
  variables, printing each change, exactly as the runner would have injected them. Outputs go to
  ``results/interactive/<notebook>/``, which the report never reads, so a student's edits never mix
  with the batch's results.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cnnexplain.notebook.profiles import load_overrides
from cnnexplain.notebook.results import OUTPUT_DIR_ENV, Results, check_profile, default_results_root, repo_root

INTERACTIVE_DIR = "interactive"


def run_by_the_batch_runner() -> bool:
    return bool(os.environ.get(OUTPUT_DIR_ENV))


def apply_profile(notebook: str, profile: str, namespace: dict, profiles_file: Path | None = None) -> dict:
    """Set ``profile``'s overrides for ``notebook`` (from ``notebooks/profiles.toml``) in ``namespace``,
    the notebook's globals; returns ``{name: (old, new)}`` of what changed. Refuses an override naming a
    variable the notebook does not define (as the runner does)."""
    if profile == "default":
        return {}
    if profiles_file is None:
        checkout = Path(__file__).resolve().parents[3]  # lib/cnnexplain/notebook/setup.py -> the checkout
        root = repo_root() or (checkout if (checkout / "notebooks" / "profiles.toml").is_file() else None)
        if root is None:
            raise FileNotFoundError(
                f"PROFILE = {profile!r} needs notebooks/profiles.toml, which holds that profile's sizes, but no "
                "folder above the current one has it; open the notebook from the project's notebooks/ folder, or "
                "run it with the batch runner: python -m cnnexplain.notebook.reproduce --profile "
                f"{profile} --notebooks {notebook}")
        profiles_file = root / "notebooks" / "profiles.toml"
    overrides = load_overrides(Path(profiles_file)).get(notebook, {}).get(profile, {})
    unknown = sorted(set(overrides) - set(namespace))
    if unknown:
        raise ValueError(f"profiles.toml's [{notebook}.{profile}] sets {', '.join(unknown)}, which this notebook's "
                         "parameters cell does not define")
    changed = {name: (namespace[name], value) for name, value in overrides.items() if namespace[name] != value}
    namespace.update(overrides)
    return changed


def setup_notebook(notebook: str, profile: str, seed: int, output_dir: str | Path | None = None,
                   threads: int = 0, namespace: dict | None = None) -> Results:
    """Check the profile, apply its overrides when run by hand, seed everything, set the figure style.

    ``threads`` sets torch's intra-op thread count (0, the default, keeps torch's choice: all cores).
    ``namespace`` is the notebook's globals (default: the caller's), where a hand-run notebook gets its
    profile's overrides (see the module docstring). Returns the :class:`Results` that saves this
    notebook's figures, tables and claims.
    """
    from cnnexplain.device import choose_device
    from cnnexplain.notebook.plots import use_style
    from cnnexplain.seeding import seed_everything

    check_profile(profile)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be a non-negative int (0 = torch's default), got {threads!r}")
    interactive = not run_by_the_batch_runner() and output_dir is None
    if interactive:
        namespace = namespace if namespace is not None else sys._getframe(1).f_globals
        for name, (old, new) in apply_profile(notebook, profile, namespace).items():
            print(f"{profile} profile: {name} = {new!r} (the parameters cell says {old!r})")
        output_dir = default_results_root() / INTERACTIVE_DIR / notebook
    if threads:
        import torch

        torch.set_num_threads(threads)
    seed_everything(seed)
    use_style()
    results = Results(notebook, profile, seed, output_dir)
    where = " (run by hand: the report does not read this folder)" if interactive else ""
    print(f"{notebook}: profile={profile} seed={seed} device={choose_device()} results={results.dir}{where}")
    return results
