"""Download a file once into a cache, verified by its SHA-256 (paper profile only: tests and the smoke
and default profiles never download)."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from cnnexplain.data.sources import DataUnavailableError, data_root

CACHE_ENV = "CNNEXPLAIN_CACHE"


def cache_dir() -> Path:
    """``$CNNEXPLAIN_CACHE`` if set, else ``<data_root()>/downloads``."""
    return Path(os.environ[CACHE_ENV]).expanduser() if os.environ.get(CACHE_ENV) else data_root() / "downloads"


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
