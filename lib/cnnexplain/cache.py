"""Cache keys that follow the code: a hash of the settings AND of the source text of the functions,
classes or modules that build the cached object. A change to that code gives a new key, so a cache is
never read by code that would have built something else — no hand-bumped version number to forget."""

from __future__ import annotations

import hashlib
import inspect
import json
import marshal
import types


def source_text(obj) -> str:
    """The source of a function, class or module (for a function without source: its compiled code)."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is not None:
            return marshal.dumps(code).hex()
        raise TypeError(f"no source for {obj!r}: pass functions, classes or modules defined in .py files") from None


def _name(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def source_key(settings, *code, length: int = 16) -> str:
    """A ``length``-hex-digit SHA-256 of ``settings`` (JSON-serialisable; dict keys sorted) and of the
    source of every object in ``code`` (functions, classes or modules), in the order given."""
    if not code:
        raise ValueError("source_key needs the code that builds the cached object (functions, classes or modules)")
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=repr).encode())
    for obj in code:
        digest.update(b"\0" + _name(obj).encode() + b"\0" + source_text(obj).encode())
    return digest.hexdigest()[:length]
