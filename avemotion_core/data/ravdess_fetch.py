"""Fetching RAVDESS speech from Zenodo into the ``Actor_XX/`` layout the dataset loader reads.

Why: the paper's data is 24.8 GB in 25 zips (record 1188976); fetched and unpacked by hand, a
truncated zip, a half-unpacked actor or a forgotten audio zip only shows up hours later as a
smaller, skewed training set. Here each zip is fetched resumably and checked against the MD5
and size the record publishes, unpacked through a staging folder (a file appears under
``Actor_XX/`` only once the zip's CRC of it matched), and the result is checked name by name
against what RAVDESS holds: per actor 60 speech takes, each as 01 (audio-video) and 02 (video
only) mp4 and, with the audio zip, as 03 wav.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from avemotion_core.download import Expected, disk_error, fetch, read_small
from avemotion_core.fileio import DownloadError

ZENODO_URL = "https://zenodo.org"
URL_ENV = "AVEMOTION_ZENODO_URL"  # overrides ZENODO_URL (a mirror; the tests' loopback server)
RECORD = "1188976"
ACTORS = tuple(range(1, 25))
AUDIO_ZIP = "Audio_Speech_Actors_01-24.zip"
DOWNLOADS = ".downloads"  # inside the output folder: same file system, so renames are atomic
LICENSE = (
    "RAVDESS (Livingstone & Russo 2018, https://doi.org/10.1371/journal.pone.0196391, Zenodo record "
    f"{RECORD}) is licensed CC BY-NC-SA 4.0: non-commercial use only, credit the authors, share "
    "adaptations under the same licence (https://creativecommons.org/licenses/by-nc-sa/4.0/)."
)
_MEMBER = re.compile(r"(?:^|/)(Actor_(\d\d))/(\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d\.(?:mp4|wav))$")


@dataclass(frozen=True)
class RemoteFile:
    """One file of the Zenodo record: name, size, MD5 and where to GET it."""

    key: str
    size: int
    md5: str
    url: str


def video_zip(actor: int) -> str:
    return f"Video_Speech_Actor_{actor:02d}.zip"


def speech_names(actor: int, modality: int) -> set[str]:
    """RAVDESS's speech files of one actor and modality (01 AV / 02 video mp4, 03 audio wav).

    60 takes: 8 emotions x 2 statements x 2 repetitions x 2 intensities, neutral only at normal
    intensity (7 x 8 + 4).
    """
    ext = "wav" if modality == 3 else "mp4"
    return {f"{modality:02d}-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{rep:02d}-{actor:02d}.{ext}"
            for emotion in range(1, 9) for intensity in ((1,) if emotion == 1 else (1, 2))
            for statement in (1, 2) for rep in (1, 2)}


def modalities(audio: bool) -> tuple[int, ...]:
    """The RAVDESS modality codes fetched: 01 + 02 mp4 from the video zips, 03 wav from the audio zip."""
    return (1, 2, 3) if audio else (1, 2)


def read_record(base: str, record: str = RECORD) -> dict[str, RemoteFile]:
    """The record's files by name, from Zenodo's records API (``/api/records/<id>``)."""
    url = f"{base.rstrip('/')}/api/records/{record}"
    try:
        data = json.loads(read_small(url))
        files = data["files"]
        out = {}
        for entry in files:
            algo, _, digest = str(entry["checksum"]).partition(":")
            links = entry.get("links") or {}
            link = links.get("content") or links.get("self") or links.get("download")
            if algo != "md5" or len(digest) != 32 or not link:
                raise ValueError(f"file entry {entry.get('key')!r} lacks an md5 checksum or a link")
            out[str(entry["key"])] = RemoteFile(str(entry["key"]), int(entry["size"]), digest, str(link))
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise DownloadError(f"{url} is not a Zenodo record listing (files with key, size, checksum, "
                            f"links): {exc}") from exc
    return out


def missing_files(root: Path, actor: int, codes: Iterable[int]) -> list[str]:
    """The RAVDESS files of ``actor`` in modalities ``codes`` not under ``root/Actor_XX/``."""
    folder = root / f"Actor_{actor:02d}"
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    return sorted(set().union(*(speech_names(actor, m) for m in codes)) - present)


def unpack(zip_path: Path, root: Path, actors: Iterable[int]) -> int:
    """Move the RAVDESS files of ``actors`` from ``zip_path`` into ``root/Actor_XX/``; return how many.

    Members are streamed into a staging folder inside ``root`` (zipfile checks each one's CRC as
    it is read) and renamed into place only after the whole zip read back intact, so a corrupt zip
    changes nothing. Member paths are never joined as given: only ``Actor_NN/<RAVDESS name>`` is
    taken, so a crafted ``../`` entry cannot write outside ``root``.
    """
    wanted = {f"Actor_{a:02d}" for a in actors}
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        placed: list[tuple[Path, Path]] = []
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                match = _MEMBER.search(info.filename)
                if info.is_dir() or not match or match.group(1) not in wanted:
                    continue
                folder, name = match.group(1), match.group(3)
                (staging / folder).mkdir(exist_ok=True)
                with zf.open(info) as src, open(staging / folder / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                placed.append((staging / folder / name, root / folder / name))
        for src, dst in placed:
            dst.parent.mkdir(exist_ok=True)
            os.replace(src, dst)
        return len(placed)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{zip_path.name} is not a valid zip ({exc}); it was deleted, run again") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class FetchReport:
    """What ``fetch_ravdess`` did and what is still missing (actor -> missing file names)."""

    fetched: list[str]
    skipped: list[str]
    unpacked: int
    missing: dict[int, list[str]]


def plan(record: dict[str, RemoteFile], root: Path, actors: list[int], audio: bool
         ) -> tuple[list[tuple[RemoteFile, list[int]]], list[str]]:
    """(zip, actors it serves) still needed, and the zips skipped because their files are all there."""
    todo: list[tuple[RemoteFile, list[int]]] = []
    skipped: list[str] = []
    names = [(video_zip(a), [a], (1, 2)) for a in actors] + ([(AUDIO_ZIP, actors, (3,))] if audio else [])
    for key, served, codes in names:
        if key not in record:
            raise DownloadError(f"the Zenodo record lists no {key}; has it changed? (files: "
                                f"{', '.join(sorted(record)[:4])} ...)")
        need = [a for a in served if missing_files(root, a, codes)]
        if need:
            todo.append((record[key], need))
        else:
            skipped.append(key)
    return todo, skipped


def fetch_ravdess(root: Path, actors: list[int], audio: bool, base: str | None = None,
                  keep_zips: bool = False, progress: bool = True,
                  log: Callable[[str], None] = print) -> FetchReport:
    """Fetch, verify and unpack the speech zips of ``actors`` (and the audio zip) into ``root``.

    Zips whose files are all in place already are skipped, so an interrupted run is simply run
    again; a zip interrupted mid-transfer resumes from its ``.part``. Zips are deleted once
    unpacked unless ``keep_zips``. Raises DownloadError on the first failure (one line).
    """
    base = base or os.environ.get(URL_ENV) or ZENODO_URL
    try:
        (root / DOWNLOADS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, root / DOWNLOADS) from exc
    todo, skipped = plan(read_record(base), root, actors, audio)
    need = sum(f.size for f, _ in todo) + max((f.size for f, _ in todo), default=0)
    free = shutil.disk_usage(root).free
    if need > free:
        raise DownloadError(f"{root} has {free / 1e9:.1f} GB free; fetching {len(todo)} zip(s) needs about "
                            f"{need / 1e9:.1f} GB (the files plus one zip at a time)")
    unpacked = 0
    for remote, served in todo:
        zip_path = root / DOWNLOADS / remote.key
        log(f"{remote.key}: {remote.size / 1e6:.0f} MB for actor(s) {', '.join(map(str, served))}")
        if not zip_path.is_file():
            fetch(remote.url, zip_path, Expected(remote.md5, "md5", remote.size), progress=progress)
        try:
            unpacked += unpack(zip_path, root, served)
        except OSError as exc:
            raise disk_error(exc, root) from exc
        except DownloadError:
            zip_path.unlink(missing_ok=True)
            raise
        if not keep_zips:
            zip_path.unlink()
    if not keep_zips:
        try:
            (root / DOWNLOADS).rmdir()  # only when empty: a .part of another run stays
        except OSError:
            pass
    missing = {a: m for a in actors if (m := missing_files(root, a, modalities(audio)))}
    return FetchReport([f.key for f, _ in todo], skipped, unpacked, missing)
