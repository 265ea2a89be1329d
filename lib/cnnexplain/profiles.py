"""The profile overrides file (``notebooks/profiles.toml``): reading and validating it.

The notebook's ``parameters`` cell holds the default profile's values; the file holds, per notebook and
profile, the parameters that differ. An override naming a parameter the notebook does not define is an
error (papermill itself would only warn and inject it anyway).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from cnnexplain.results import PROFILES


class ProfileError(ValueError):
    """A bad profile, notebook name or override; the runner turns it into exit status 2."""


def load_overrides(path: Path) -> dict[str, dict[str, dict]]:
    """``{notebook: {profile: {parameter: value}}}`` from the TOML file, checking profile names."""
    if not path.is_file():
        return {}
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
    return data


def notebook_parameters(notebook: Path) -> dict[str, dict]:
    """The parameters papermill finds in the notebook's cell tagged ``parameters``.

    Raises :class:`ProfileError` when there is no such cell or it does not define ``PROFILE``.
    """
    import papermill

    parameters = papermill.inspect_notebook(str(notebook))
    if not parameters:
        raise ProfileError(f"{notebook.name} has no cell tagged 'parameters' (or it defines nothing)")
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
