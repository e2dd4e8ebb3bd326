"""Fetching large files over HTTP(S)/FTP: resumable, verified, atomic, with one-line errors.

Why a module of its own: the pretrained model (tens of MB) and RAVDESS (24.8 GB in 25 zips) are
fetched by the same rules. A transfer is written to a hidden ``.<name>.part`` next to the target
and renamed into place only after its size and digest matched, so a file that exists is always
complete; an interrupted transfer keeps its ``.part`` and the next run continues it with an HTTP
``Range`` request instead of starting again. Every failure is a :class:`DownloadError` whose
message fits on one line and says what to do (HTTP status, checksum mismatch, disk full, no
permission, connection cut).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from avemotion_core.fileio import DownloadError

CHUNK = 1 << 16
USER_AGENT = "avemotion-downloader"
# errno -> what the user should know; EFBIG is what a file-size limit (ulimit -f) raises.
_DISK_ERRORS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system or ulimit -f",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
}


@dataclass(frozen=True)
class Expected:
    """What a complete file must be: a hex digest under ``algorithm`` and/or a byte ``size``."""

    digest: str | None = None
    algorithm: str = "sha256"
    size: int | None = None


def part_path(dest: str | os.PathLike[str]) -> Path:
    """Where the unfinished transfer of ``dest`` lives (same directory: the final rename is atomic)."""
    target = Path(dest)
    return target.with_name(f".{target.name}.part")


def disk_error(exc: OSError, path: str | os.PathLike[str]) -> DownloadError:
    """A one-line error for a failed write of ``path`` (disk full, permission ...)."""
    why = _DISK_ERRORS.get(exc.errno or 0, exc.strerror or str(exc))
    return DownloadError(f"cannot write {path}: {why} [errno {exc.errno}]")


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    expected: Expected | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` (resuming an earlier ``.part``); return the file's hex digest.

    The digest is computed under ``expected.algorithm`` (SHA-256 without ``expected``). A
    mismatch deletes the ``.part`` (its bytes are wrong, resuming would keep them) and raises; a
    cut connection keeps it and raises, so running again resumes. Without a digest to compare a
    warning names the digest that was computed, so it can be pinned next time.
    """
    expected = expected or Expected()
    target = Path(dest)
    part = part_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not url.startswith(("http://", "https://")):  # FTP and friends cannot resume: start again
            part.unlink(missing_ok=True)
        hasher = hashlib.new(expected.algorithm)
        done = _resume_point(part, hasher, expected.size)
        if expected.size is None or done < expected.size:
            done, hasher = _transfer(url, part, hasher, done, expected.size, progress, timeout, target.name)
    except OSError as exc:
        raise disk_error(exc, part) from exc
    if expected.size is not None and done != expected.size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: got {done} bytes, the source lists {expected.size}; the partial "
                            "file was deleted, run again")
    got = hasher.hexdigest()
    if expected.digest is not None and got.lower() != expected.digest.lower():
        part.unlink(missing_ok=True)
        name = expected.algorithm.upper().replace("SHA", "SHA-")
        raise DownloadError(f"{name} mismatch for {url}: expected {expected.digest}, got {got} "
                            "(corrupted in transfer or changed at the source; deleted)")
    if expected.digest is None:
        warnings.warn(f"{url} not verified (no checksum given); its {expected.algorithm} is {got}",
                      stacklevel=2)
    try:
        os.replace(part, target)
    except OSError as exc:
        raise disk_error(exc, target) from exc
    return got


def _resume_point(part: Path, hasher: hashlib._Hash, size: int | None) -> int:
    """Bytes already in ``part`` (hashed into ``hasher``); a ``.part`` longer than the file is dropped."""
    if not part.is_file():
        return 0
    have = part.stat().st_size
    if size is not None and have > size:
        part.unlink()
        return 0
    with open(part, "rb") as f:
        while block := f.read(1 << 20):
            hasher.update(block)
    return have


def _transfer(url: str, part: Path, hasher: hashlib._Hash, done: int, size: int | None, progress: bool,
              timeout: float, name: str) -> tuple[int, hashlib._Hash]:
    """Append the rest of ``url`` from byte ``done`` to ``part``: the bytes now in it and their hash."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    resumable = done > 0
    if resumable:
        request.add_header("Range", f"bytes={done}-")
    try:
        resp = _open(request, timeout)
    except _Status416:  # asked past the end: the .part is already complete
        return done, hasher
    with resp:
        status = getattr(resp, "status", None)
        if resumable and (status != 206 or _range_start(resp.headers.get("Content-Range")) != done):
            done, hasher = 0, hashlib.new(hasher.name)  # the server sends the whole file: start again
        length = resp.headers.get("Content-Length") if resp.headers else None
        total = size if size is not None else (done + int(length) if length and length.isdigit() else None)
        bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name, disable=not progress,
                   leave=False)
        with bar, open(part, "ab" if done else "wb") as out:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:  # network; a write error is the disk's
                    raise _cut(url, done, total, exc) from exc
                if not block:
                    break
                out.write(block)
                hasher.update(block)
                done += len(block)
                bar.update(len(block))
    if total is not None and done < total:
        raise _cut(url, done, total, None)
    return done, hasher


class _Status416(Exception):
    """The server answered 416 Range Not Satisfiable."""


def _open(request: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    """``urlopen`` whose failures are one-line DownloadErrors (416 is raised as _Status416)."""
    url = request.full_url
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:
            raise _Status416 from exc
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot reach {url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, TLS: never the local disk
        raise DownloadError(f"cannot reach {url}: {exc or type(exc).__name__}") from exc


def read_small(url: str, limit: int = 16 << 20, timeout: float = 60.0) -> bytes:
    """The body of ``url`` (an API answer, not a data file), refused when over ``limit`` bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with _open(request, timeout) as resp:
            body = resp.read(limit + 1)
    except _Status416 as exc:
        raise DownloadError(f"HTTP 416 for {url}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"reading {url} failed: {exc or type(exc).__name__}") from exc
    if len(body) > limit:
        raise DownloadError(f"{url} answered more than {limit} bytes; is that the right address?")
    return body


def _range_start(content_range: str | None) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL`` header (None if unparsable)."""
    try:
        return int(content_range.split()[1].split("-")[0]) if content_range else None
    except (IndexError, ValueError):
        return None


def _cut(url: str, done: int, total: int | None, exc: BaseException | None) -> DownloadError:
    of = f" of {total}" if total is not None else ""
    why = f" ({exc or type(exc).__name__})" if exc is not None else ""
    return DownloadError(f"transfer of {url} stopped after {done}{of} bytes{why}; run the same command "
                         "again to resume")
