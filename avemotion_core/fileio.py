"""Safe file handling shared by model save/load, downloads and caches.

Why a module of its own: every writer in the project must leave either the old file or the
complete new one (never a half-written file a robot would later load), and every model file
must be read without pickle. Keeping these rules in one place keeps them consistent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class ModelFileError(RuntimeError):
    """A model/metadata file is missing, corrupt, truncated or does not match the configuration."""


class DownloadError(RuntimeError):
    """A download failed or its content did not match the expected SHA-256."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temp file lives in the same directory so ``os.replace`` is an atomic rename.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so large weights do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> str:
    """Stream ``url`` to ``dest`` with a progress bar; verify SHA-256; return the digest.

    The data goes to a temp file first and is renamed only after the hash matched, so an
    interrupted or tampered download never leaves a file that looks usable.
    """
    digest = hashlib.sha256()
    try:
        with (
            atomic_path(dest) as tmp,
            urllib.request.urlopen(url, timeout=timeout) as resp,
            open(tmp, "wb") as out,
        ):
            total = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            bar = tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=Path(dest).name,
                disable=not progress,
            )
            with bar:
                while block := resp.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
            out.flush()
            got = digest.hexdigest()
            if sha256 is not None and got.lower() != sha256.lower():
                raise DownloadError(f"SHA-256 mismatch for {url}: expected {sha256}, got {got}")
            if sha256 is None:
                warnings.warn(f"{url} not verified (no SHA-256 given); its SHA-256 is {got}", stacklevel=3)
    except DownloadError:
        raise
    except OSError as exc:  # URLError, HTTPError, timeouts and disk errors are all OSError
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    return got
