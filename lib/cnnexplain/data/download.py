"""Download a file once into a cache, verified by its SHA-256 (paper profile only: tests and the smoke
and default profiles never download)."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from cnnexplain.data.sources import DataUnavailableError

CACHE_ENV = "CNNEXPLAIN_CACHE"


def cache_dir() -> Path:
    """The ONE folder for everything cnnexplain computes or downloads once: trained study networks,
    influence scores, stylized images, checked downloads. ``$CNNEXPLAIN_CACHE`` if set, else
    ``$XDG_CACHE_HOME/cnnexplain`` (``~/.cache/cnnexplain``). Never inside ``DATA_ROOT``: the user's data
    folder holds only their data. Every entry's key follows its settings and the source of the code that
    built it (:mod:`cnnexplain.cache`), so nothing stale is read; ``make clean-cache`` empties it."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "cnnexplain"


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, sha256: str, filename: str | None = None, directory: str | os.PathLike | None = None,
          timeout: float = 60.0) -> Path:
    """Return the cached file for ``url``, downloading it first if needed, after checking its SHA-256.

    A cached file with the wrong checksum is re-downloaded; a download with the wrong checksum is
    deleted and raises ``ValueError``. Without network the error names the file, the URL and where to
    put the file by hand, and suggests the default profile (which needs no download).
    """
    if not sha256 or len(sha256) != 64:
        raise ValueError(f"fetch({url!r}) needs the file's 64-hex-digit SHA-256 to verify the download")
    folder = Path(directory).expanduser() if directory else cache_dir()
    target = folder / (filename or url.rstrip("/").rsplit("/", 1)[-1])
    if target.is_file() and sha256sum(target) == sha256.lower():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        partial.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"could not download {target.name} from {url} ({error}). If this machine is offline, use the "
            f"default profile (embedded data, no downloads), or fetch the file elsewhere and place it at "
            f"{target} (SHA-256 {sha256}), or set DATA_ROOT / {CACHE_ENV} to a folder that holds it."
        ) from None
    actual = sha256sum(partial)
    if actual != sha256.lower():
        partial.unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for {target.name} from {url}: expected {sha256}, got {actual}; "
                         "the file was deleted. Check the URL or the expected checksum.")
    os.replace(partial, target)
    return target
