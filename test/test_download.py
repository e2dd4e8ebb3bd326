"""``avemotion_core.download`` and ``avemotion download`` against a loopback HTTP server.

The server (test/loopback.py) stands in for OpenDR's model server: it serves a model in OpenDR's
layout built here, supports Range, and can cut a transfer or flip a byte. Disk failures are real:
a file-size limit (``RLIMIT_FSIZE``, which makes write() fail with EFBIG) in the child process,
and, where this user may mount, a 1 MB tmpfs (ENOSPC) and a read-only one (EROFS; a non-root
user gets EACCES from a read-only folder instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import SCRIPT, assert_clean_error, dataset, run_cli
from loopback import Site, opendr_model, serve

from avemotion_core.download import Expected, fetch, part_path
from avemotion_core.fileio import DownloadError
from avemotion_core.model.download import OPENDR_MODEL, URL_ENV

PAYLOAD = bytes(range(256)) * 1200  # 300 KB


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(Site(files={"/data.bin": PAYLOAD})) as s:
        yield s


@pytest.fixture(scope="module")
def opendr_site() -> Iterator[Site]:
    meta, weights = opendr_model("ia")
    files = {f"/models/{OPENDR_MODEL}.json": meta, f"/models/{OPENDR_MODEL}.pt": weights}
    with serve(Site(files=files)) as s:
        yield s


def _env(site: Site) -> dict[str, str]:
    return {URL_ENV: f"{site.url}/models/"}


def mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()}): the disk-full case "
                    "is covered by the RLIMIT_FSIZE test")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB file system: writing more fails with ENOSPC, as on a full disk."""
    mnt = tmp_path / "tiny"
    mount_tmpfs(mnt, "size=1m")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write into: read-only for a user, a read-only mount for root."""
    path = tmp_path / "locked"
    if os.geteuid() != 0:
        path.mkdir()
        path.chmod(0o500)
        yield path
        path.chmod(0o700)
        return
    mount_tmpfs(path, "ro,size=1m")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


# ----------------------------------------------------------------------------- the core fetch
def test_interrupted_transfer_is_resumed_with_a_range_request(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    want = Expected(hashlib.sha256(PAYLOAD).hexdigest(), "sha256", len(PAYLOAD))
    site.cut_after["/data.bin"] = 100_000
    with pytest.raises(DownloadError, match=r"stopped after 100000 of 307200 bytes.*run the same command"):
        fetch(f"{site.url}/data.bin", dest, want, progress=False)
    assert not dest.exists() and part_path(dest).stat().st_size == 100_000, "kept for resuming, hidden"
    assert fetch(f"{site.url}/data.bin", dest, want, progress=False) == want.digest
    assert dest.read_bytes() == PAYLOAD and not part_path(dest).exists()
    assert site.requests == [("/data.bin", None), ("/data.bin", "bytes=100000-")]


def test_a_server_that_ignores_range_gives_the_whole_file_once(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    part_path(dest).write_bytes(PAYLOAD[:1000])
    site.ignore_range = True
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    got = fetch(f"{site.url}/data.bin", dest, Expected(digest, "sha256", len(PAYLOAD)), progress=False)
    assert got == digest
    assert dest.read_bytes() == PAYLOAD and site.requests == [("/data.bin", "bytes=1000-")]


def test_corrupted_transfer_is_rejected_and_nothing_kept(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    site.corrupt.add("/data.bin")
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match=f"MD5 mismatch for .*expected {md5}.*deleted"):
        fetch(f"{site.url}/data.bin", dest, Expected(md5, "md5", len(PAYLOAD)), progress=False)
    assert list(tmp_path.iterdir()) == [], "neither the file nor its .part"


def test_a_part_that_does_not_match_is_not_resumed_into_a_wrong_file(site: Site, tmp_path: Path) -> None:
    """Resuming trusts the .part's bytes; the checksum still covers them, so stale bytes are caught."""
    dest = tmp_path / "data.bin"
    part_path(dest).write_bytes(b"x" * 1000)
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        fetch(f"{site.url}/data.bin", dest, Expected(hashlib.sha256(PAYLOAD).hexdigest()), progress=False)
    assert list(tmp_path.iterdir()) == []
    fetch(f"{site.url}/data.bin", dest, Expected(hashlib.sha256(PAYLOAD).hexdigest()), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_http_error_is_one_line(site: Site, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"^HTTP 404 Not Found for http://127\.0\.0\.1:\d+/nope$"):
        fetch(f"{site.url}/nope", tmp_path / "x", progress=False)
    with pytest.raises(DownloadError, match=r"^cannot reach http://127\.0\.0\.1:1/x: "):
        fetch("http://127.0.0.1:1/x", tmp_path / "x", progress=False)


def test_full_disk_is_one_line(site: Site, full_disk: Path) -> None:
    site.files["/big.bin"] = PAYLOAD * 7  # 2.1 MB
    with pytest.raises(DownloadError, match=r"^cannot write .*\.big\.bin\.part: disk full \[errno 28\]$"):
        fetch(f"{site.url}/big.bin", full_disk / "sub" / "big.bin", progress=False)
    assert not (full_disk / "sub" / "big.bin").exists()


# ----------------------------------------------------------------------------- avemotion download
def test_download_installs_opendr_model_with_what_the_node_needs(opendr_site: Site, tmp_path: Path,
                                                                 tmp_path_factory) -> None:
    out = tmp_path / "models" / "opendr_ia"
    proc = run_cli("download", out, "--no-progress", env=_env(opendr_site))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    meta = json.loads((out / "metadata.json").read_text())
    weights = opendr_site.files[f"/models/{OPENDR_MODEL}.pt"]
    assert {k: meta[k] for k in ("fusion", "num_class", "image_size", "face_detector", "model_paths")} == {
        "fusion": "ia", "num_class": 8, "image_size": 224, "face_detector": "mtcnn",
        "model_paths": ["model_weights.pt"]}
    assert meta["labels"][:3] == ["neutral", "calm", "happy"]
    assert meta["sha256"] == {"model_weights.pt": hashlib.sha256(weights).hexdigest()}
    assert "224 px crops, face detector mtcnn" in proc.stdout, proc.stdout
    assert "not verified" in proc.stderr, "no pinned hash: the user is told what was computed"
    assert sorted(p.name for p in out.parent.iterdir()) == ["opendr_ia"], "no staging left behind"

    # infer with no crop flags runs the model as it was trained: 224 px, MTCNN
    clip = next(dataset(tmp_path_factory).rglob("02-*.mp4"))
    wav = clip.with_name("03" + clip.name[2:]).with_suffix(".wav")
    proc = run_cli("infer", "--video", clip, "--audio", wav, "--model", out, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert ("224 px crops, mtcnn face detector (--image-size and --face-detector from the model)"
            in proc.stderr), proc.stderr


def test_download_checks_pinned_hashes_and_leaves_nothing(opendr_site: Site, tmp_path: Path) -> None:
    out = tmp_path / "m"
    proc = run_cli("download", out, "--no-progress", "--sha256", f"model_weights.pt={'0' * 64}",
                   env=_env(opendr_site))
    assert_clean_error(proc, 1, "SHA-256 mismatch", f"{OPENDR_MODEL}.pt")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_download_usage_errors(opendr_site: Site, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert_clean_error(run_cli("download", tmp_path / "busy", env=_env(opendr_site)), 2, "--force")
    assert_clean_error(run_cli("download", "my_model", tmp_path / "o", env=_env(opendr_site)), 2,
                       "does not state the fusion", "--fusion")
    assert_clean_error(run_cli("download", tmp_path / "o", "--sha256", "x=12", env=_env(opendr_site)), 2,
                       "FILE=<64 hex digits>")
    assert_clean_error(run_cli("download", "nope_ia", tmp_path / "o", "--no-progress", env=_env(opendr_site)),
                       1, "HTTP 404 Not Found")


def test_download_file_size_limit_is_one_line(opendr_site: Site, tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes write() fail with EFBIG (Python ignores SIGXFSZ): a stand-in for a
    full disk that needs no privileges."""
    limit = 200_000  # the weights are ~7 MB

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", **_env(opendr_site)}
    cli = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "avemotion_core.cli"]
    proc = subprocess.run([*cli, "download", str(tmp_path / "m"), "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert_clean_error(proc, 1, "cannot write", "file too large", "[errno 27]")
    assert len(proc.stderr.strip().splitlines()) == 2, proc.stderr  # the "not verified" note + the error
    assert not (tmp_path / "m").exists()


def test_download_into_unwritable_folder_is_one_line(opendr_site: Site, unwritable: Path) -> None:
    proc = run_cli("download", unwritable / "m", "--no-progress", env=_env(opendr_site))
    assert_clean_error(proc, 1, f"cannot write {unwritable / 'm'}")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert any(why in proc.stderr for why in ("permission denied", "read-only file system")), proc.stderr



def test_download_of_our_layout_and_eval_defaults_from_its_metadata(tmp_path: Path, tmp_path_factory) -> None:
    """``--layout avemotion`` fetches a model directory of ours as it is; ``eval`` then crops with
    the detector that model records (here mtcnn, written into a copy of the embedded model)."""
    from test_model_files import with_metadata

    source = with_metadata(tmp_path, "src", face_detector="mtcnn")
    files = {f"/ours/{p.name}": p.read_bytes() for p in source.iterdir()}
    with serve(Site(files=files)) as s:
        proc = run_cli("download", tmp_path / "m", "--layout", "avemotion", "--url", f"{s.url}/ours/",
                       "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "64 px crops, face detector mtcnn" in proc.stdout, proc.stdout
    got = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    assert got == {name: (source / name).read_bytes() for name in ("metadata.json", "model.safetensors")}
    proc = run_cli("eval", dataset(tmp_path_factory), "--model", tmp_path / "m", "--subset", "all", "--json",
                   "--no-progress", timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["face_detector"], report["image_size"]) == ("mtcnn", 64)
