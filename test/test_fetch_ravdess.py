"""``avemotion fetch-ravdess`` against a loopback server standing in for Zenodo.

The server holds zips laid out as RAVDESS's (``Actor_NN/<name>``, every speech take of an actor)
whose files are a generated RAVDESS-format clip and wav, and a record listing in the format of
Zenodo's records API. What is checked is what a user relies on: the licence must be accepted, the
result is exactly the layout the dataset loader reads, an interrupted zip resumes, a corrupt one
is rejected without unpacking anything, a zip lacking files is reported by name, and write
failures are one line.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import SCRIPT, assert_clean_error, dataset, run_cli
from loopback import Site, clip_media, publish_record, serve, zenodo_site
from test_download import unwritable  # noqa: F401 (fixture)

from avemotion_core.data.dataset import scan_ravdess
from avemotion_core.data.ravdess_fetch import AUDIO_ZIP, URL_ENV, video_zip

ACTORS = [1, 2]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    return clip_media(dataset(tmp_path_factory))


@pytest.fixture
def zenodo(media: dict[str, bytes]) -> Iterator[Site]:
    with serve(zenodo_site(ACTORS, media)) as site:
        publish_record(site)
        yield site


def fetch_cli(site: Site, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("fetch-ravdess", out, "--accept-license", "--actors", "1,2", "--no-progress", *extra,
                   env={URL_ENV: site.url})


def zip_gets(site: Site) -> list[tuple[str, str | None]]:
    return [(p.rsplit("/", 1)[1], r) for p, r in site.requests if p.startswith("/files/")]


def test_licence_must_be_accepted(zenodo: Site, tmp_path: Path) -> None:
    proc = run_cli("fetch-ravdess", tmp_path / "r", env={URL_ENV: zenodo.url})
    assert_clean_error(proc, 2, "CC BY-NC-SA 4.0", "--accept-license")
    assert zenodo.requests == [] and not (tmp_path / "r").exists()


def test_fetches_the_layout_the_dataset_loader_reads(zenodo: Site, tmp_path: Path) -> None:
    out = tmp_path / "ravdess"
    proc = fetch_cli(zenodo, out, "--audio")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "CC BY-NC-SA 4.0" in proc.stderr
    assert "2 actor(s) complete, 180 files each (360 unpacked now from 3 zip(s))" in proc.stdout, proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["Actor_01", "Actor_02"], "no zips or staging left"
    scan = scan_ravdess(out)
    assert len(scan.samples) == 120 and not scan.unpaired, "60 takes per actor, each with its 03 wav"
    assert {s.actor for s in scan.samples} == {1, 2} and all(s.audio is not None for s in scan.samples)
    assert (out / "Actor_01" / "01-01-08-02-02-02-01.mp4").read_bytes() == zenodo_media(zenodo)

    again = fetch_cli(zenodo, out, "--audio")
    assert again.returncode == 0 and "3 zip(s) already unpacked" in again.stdout, again.stdout
    assert len(zip_gets(zenodo)) == 3, "nothing fetched twice"


def zenodo_media(site: Site) -> bytes:
    """The clip bytes the served zips hold (every member has the same mp4)."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(site.files[f"/files/{video_zip(1)}"])) as zf:
        return zf.read(zf.namelist()[0])


def test_interrupted_zip_resumes(zenodo: Site, tmp_path: Path) -> None:
    out = tmp_path / "ravdess"
    size = len(zenodo.files[f"/files/{video_zip(2)}"])
    zenodo.cut_after[f"/files/{video_zip(2)}"] = size // 3
    proc = fetch_cli(zenodo, out)
    assert_clean_error(proc, 1, f"stopped after {size // 3} of {size} bytes", "run the same command again")
    assert len(list((out / "Actor_01").iterdir())) == 120 and not (out / "Actor_02").exists()
    proc = fetch_cli(zenodo, out)
    assert proc.returncode == 0, proc.stderr
    assert zip_gets(zenodo)[-1] == (video_zip(2), f"bytes={size // 3}-"), zenodo.requests
    assert AUDIO_ZIP not in [k for k, _ in zip_gets(zenodo)], "audio only with --audio"
    assert "no 03-*.wav audio (add --audio)" in proc.stdout


def test_corrupted_zip_is_rejected_before_unpacking(zenodo: Site, tmp_path: Path) -> None:
    out = tmp_path / "ravdess"
    zenodo.corrupt.add(f"/files/{video_zip(1)}")
    proc = fetch_cli(zenodo, out)
    assert_clean_error(proc, 1, f"MD5 mismatch for {zenodo.url}/files/{video_zip(1)}")
    assert len(proc.stderr.strip().splitlines()) == 3, proc.stderr  # licence, zip name, the error
    assert sorted(p.name for p in out.rglob("*")) == [".downloads"], "nothing unpacked, nothing kept"


def test_missing_files_are_reported_by_name(media: dict[str, bytes], tmp_path: Path) -> None:
    with serve(zenodo_site(ACTORS, media, drop=2)) as site:
        publish_record(site)
        proc = fetch_cli(site, tmp_path / "ravdess")
    assert_clean_error(proc, 1, "1 of 2 actors incomplete", "Actor_01: 2 missing (01-01-01-01-01-01-01.mp4, "
                       "01-01-01-01-01-02-01.mp4)")


def test_file_size_limit_is_one_line(zenodo: Site, tmp_path: Path) -> None:
    """RLIMIT_FSIZE: write() fails with EFBIG, the unprivileged stand-in for a full disk."""
    limit = 250_000  # each video zip is ~1 MB

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cli = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "avemotion_core.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", URL_ENV: zenodo.url}
    proc = subprocess.run([*cli, "fetch-ravdess", str(tmp_path / "r"), "--accept-license", "--actors", "1",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=small_files)
    assert_clean_error(proc, 1, f"cannot write {tmp_path / 'r' / '.downloads'}", "file too large",
                       "[errno 27]")
    assert not (tmp_path / "r" / "Actor_01").exists()


def test_unwritable_output_is_one_line(zenodo: Site, unwritable: Path) -> None:  # noqa: F811
    proc = fetch_cli(zenodo, unwritable / "r")
    assert_clean_error(proc, 1, f"cannot write {unwritable / 'r' / '.downloads'}")
    assert proc.stderr.strip().splitlines()[-1].startswith("avemotion fetch-ravdess: error:"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2, proc.stderr  # the licence and the error
