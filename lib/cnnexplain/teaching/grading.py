"""What a check returns and prints: right or wrong, and why, without revealing the solution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_ANSWER = ("no answer yet: replace `...` with your code and assign the result to `answer`, then run the "
             "cell again")


@dataclass(frozen=True)
class Result:
    """The outcome of one check: ``ok`` (also its truth value) and the ``message`` that was printed."""

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"Result(exercise={self.exercise!r}, ok={self.ok})"

    def _ipython_display_(self) -> None:
        """The check already printed its verdict: as a cell's last value, show nothing more."""


def report(exercise: str, ok: bool, message: str) -> Result:
    """Print the verdict (works the same in JupyterLab and under papermill) and return it."""
    print(f"{'✔ correct' if ok else '✘ not yet'} — exercise {exercise}: {message}")
    return Result(exercise, ok, message)


def missing(answer) -> bool:
    return answer is Ellipsis or answer is None


def as_array(answer) -> np.ndarray | None:
    """``answer`` as a float64 array (numbers, lists, numpy arrays, torch tensors), or None if it is none."""
    try:
        if hasattr(answer, "detach"):
            answer = answer.detach().cpu().numpy()
        if isinstance(answer, (str, bytes, dict, set)):
            return None
        value = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return value


def close(exercise: str, answer, expected, *, hint: str, right: str, diagnoses=(), rtol: float = 1e-4,
          atol: float = 1e-6, squeeze: bool = True) -> Result:
    """Compare a numeric answer with ``expected``.

    ``hint`` is shown for a wrong value, ``right`` for a right one; ``diagnoses`` are pairs
    ``(plausible wrong value, targeted hint)``: an answer matching one gets that hint instead. None of the
    messages contains ``expected``.
    """
    if missing(answer):
        return report(exercise, False, NO_ANSWER)
    value, target = as_array(answer), np.asarray(expected, dtype=np.float64)
    if value is None:
        return report(exercise, False, f"your answer is a {type(answer).__name__}; give a number or an array "
                                       f"(a tensor or a numpy array) of shape {target.shape}")
    if squeeze and value.size == target.size:
        value = value.reshape(target.shape)
    if value.shape != target.shape:
        return report(exercise, False, f"your answer has shape {value.shape}, the exercise asks for shape "
                                       f"{target.shape}")
    if not np.all(np.isfinite(value)):
        return report(exercise, False, "your answer contains NaN or infinity: check for a division by zero")
    if np.allclose(value, target, rtol=rtol, atol=atol):
        return report(exercise, True, right)
    for wrong, why in diagnoses:
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == target.shape and np.allclose(value, wrong, rtol=rtol, atol=atol):
            return report(exercise, False, why)
    return report(exercise, False, hint)


def choice(exercise: str, answer, expected, options, *, hint: str, right: str, why_wrong: dict | None = None) -> Result:
    """Compare a one-word (or True/False) answer with ``expected``, one of ``options``."""
    if missing(answer):
        return report(exercise, False, NO_ANSWER)
    normal = answer.strip().lower().replace(" ", "_") if isinstance(answer, str) else answer
    if normal not in options:
        shown = ", ".join(repr(o) for o in options)
        return report(exercise, False, f"answer one of {shown} (you gave {answer!r})")
    if normal == expected:
        return report(exercise, True, right)
    return report(exercise, False, (why_wrong or {}).get(normal, hint))


def same_set(exercise: str, answer, expected, universe, *, hint: str, right: str) -> Result:
    """Compare a set of names with ``expected``; says how many are missing or extra, never which."""
    if missing(answer):
        return report(exercise, False, NO_ANSWER)
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        return report(exercise, False, "give a set (or list) of names, e.g. {'a', 'b'}")
    given = {str(a).strip().lower() for a in answer}
    unknown = sorted(given - set(universe))
    if unknown:
        return report(exercise, False, f"{', '.join(map(repr, unknown))} is not one of the names in the exercise")
    expected = set(expected)
    if given == expected:
        return report(exercise, True, right)
    extra, lacking = len(given - expected), len(expected - given)
    parts = ([f"{extra} of your names should not be there"] if extra else []) + \
            ([f"{lacking} name(s) are missing"] if lacking else [])
    return report(exercise, False, "; ".join(parts) + ". " + hint)
