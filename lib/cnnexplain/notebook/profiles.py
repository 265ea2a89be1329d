"""The profile overrides file (``notebooks/profiles.toml``): reading and validating it.

The notebook's ``parameters`` cell holds the default profile's values; the file holds, per notebook and
profile, the parameters that differ. An override naming a parameter the notebook does not define is an
error (papermill itself would only warn and inject it anyway).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from cnnexplain.notebook.results import PROFILES


class ProfileError(ValueError):
    """A bad profile, notebook name or override; the runner turns it into exit status 2."""


def load_overrides(path: Path) -> dict[str, dict[str, dict]]:
    """``{notebook: {profile: {parameter: value}}}`` from the TOML file, checking profile names and that
    every value is one papermill can inject (no TOML dates or times). A missing file is an error: without
    it every profile would silently run at the default sizes."""
    if not path.is_file():
        raise ProfileError(f"{path} not found: the runner reads each profile's overrides from it (without "
                           "it every profile would run at the default sizes); restore it from git, or "
                           "create an empty one if no notebook has overrides")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path}: not valid TOML ({error})") from None
    for notebook, per_profile in data.items():
        if not isinstance(per_profile, dict):
            raise ProfileError(f"{path}: [{notebook}] must hold tables [{notebook}.<profile>]")
        for profile, overrides in per_profile.items():
            if profile not in PROFILES:
                raise ProfileError(f"{path}: [{notebook}.{profile}] names unknown profile {profile!r}; "
                                   f"valid profiles are: {', '.join(PROFILES)}")
            if not isinstance(overrides, dict):
                raise ProfileError(f"{path}: [{notebook}.{profile}] must be a table of parameter = value")
            if "PROFILE" in overrides:
                raise ProfileError(f"{path}: [{notebook}.{profile}] must not set PROFILE; the runner sets it")
            for name, value in overrides.items():
                _check_injectable(value, f"{path}: [{notebook}.{profile}] {name}")
    return data


def _check_injectable(value, where: str) -> None:
    """Refuse what papermill cannot write into a parameters cell as a Python literal (TOML dates/times)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_injectable(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_injectable(item, where)
    elif not isinstance(value, (str, int, float, bool)):
        raise ProfileError(f"{where} = {value!r} is a TOML {type(value).__name__} (date/time), which the "
                           "runner cannot inject into the notebook; write it as a quoted string")


def notebook_parameters(notebook: Path) -> dict[str, object]:
    """``{name: value}`` of the notebook's cell tagged ``parameters``, parsed with :mod:`ast`.

    The cell must hold assignments of literal values only (the design's rule, which also keeps the
    runner's view of the parameters exact: papermill's own parser skips lines whose comment has an
    ``=``). Raises :class:`ProfileError` when there is no such cell, more than one, a statement that is
    not ``NAME = literal``, or no ``PROFILE``.
    """
    import ast

    import nbformat

    cells = [c for c in nbformat.read(notebook, as_version=4).cells
             if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ProfileError(f"{notebook.name} must have exactly one code cell tagged 'parameters' "
                           f"(found {len(cells)})")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as error:
        raise ProfileError(f"{notebook.name}: parameters cell is not valid Python ({error})") from None
    parameters = {}
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) and statement.value is not None else [])
        try:
            if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                raise ValueError
            parameters[targets[0].id] = ast.literal_eval(statement.value)
        except ValueError:
            raise ProfileError(
                f"{notebook.name}: parameters cell line {statement.lineno} is not 'NAME = literal' "
                f"({ast.get_source_segment(cells[0].source, statement)!r}); keep computed values in later cells"
            ) from None
    if "PROFILE" not in parameters:
        raise ProfileError(f"{notebook.name}: its parameters cell must define PROFILE")
    return parameters


def overrides_for(overrides: dict, notebook: Path, profile: str, parameters: dict) -> dict:
    """The overrides of ``notebook`` in ``profile``, refusing any name its parameters cell lacks."""
    chosen = dict(overrides.get(notebook.stem, {}).get(profile, {}))
    unknown = sorted(set(chosen) - set(parameters))
    if unknown:
        raise ProfileError(
            f"profiles.toml [{notebook.stem}.{profile}] overrides {', '.join(unknown)}, which "
            f"{notebook.name}'s parameters cell does not define (it defines: {', '.join(sorted(parameters))}); "
            "fix the name or add the parameter to the notebook"
        )
    return chosen
