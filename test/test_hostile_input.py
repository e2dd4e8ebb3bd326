"""Hostile input of issue 14 items 13 and 14: media and bags shorter than their headers declare,
and a dataset with one corrupt clip among good ones.

Everything runs on real files: clips made by ``avemotion generate``, truncated or overwritten with
garbage the way a failed copy or a bad disk leaves them.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from cli_support import IMAGE_SIZE, assert_clean_error, dataset, run_cli

from avemotion_core.cli import main


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory) -> Path:
    """One generated audio+video mp4 (01-*), about 3.6 s."""
    root = tmp_path_factory.mktemp("av_clip")
    proc = run_cli("generate", root, "--actors", "1", "--emotions", "happy", "--statements", "1", "--av",
                   "--frame-size", "192x144", "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return next(root.rglob("01-*.mp4"))


def faststart_copy(src: Path, dst: Path) -> Path:
    """Remux ``src`` with its index (moov) before the media data, as streaming-ready mp4s are."""
    faststart = {"movflags": "faststart"}
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4", options=faststart) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    data = dst.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "the index must sit at the front"
    return dst


def infer(capsys, clip: Path, *flags: str) -> tuple[int, list[dict], list[str]]:
    code = main(["infer", str(clip), "--image-size", IMAGE_SIZE, "--json", "-", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else [], err.strip().splitlines()


def test_infer_warns_about_a_truncated_mp4_and_strict_refuses_it(av_clip, tmp_path, capsys):
    whole = faststart_copy(av_clip, tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])

    code, rows, err = infer(capsys, whole)
    assert code == 0 and not [line for line in err if "declared" in line], err
    video = rows[0]["media"]["video"]
    assert video["read_s"] == pytest.approx(video["declared_s"], abs=0.05)

    code, rows, err = infer(capsys, cut)
    warned = [line for line in err if "warning" in line]
    assert code == 0 and len(warned) == 1 and str(cut) in warned[0], err
    assert "s declared (video)" in warned[0] and "s declared (audio)" in warned[0], warned
    video = rows[0]["media"]["video"]
    assert video["read_s"] < 0.8 * video["declared_s"] and video["declared_s"] == pytest.approx(3.6, abs=0.1)
    assert f"read {video['read_s']:.2f} s of {video['declared_s']:.2f} s declared (video)" in warned[0]

    code, _, err = infer(capsys, cut, "--strict")
    errors = [line for line in err if "error" in line]  # (beside the crop-size/detector info line)
    assert code == 1 and len(errors) == 1 and str(cut) in errors[0], err
    assert infer(capsys, whole, "--strict")[0] == 0


@pytest.fixture(scope="module")
def damaged_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """The session's generated dataset (3 actors x 2 emotions) with one clip overwritten by garbage."""
    root = tmp_path_factory.mktemp("damaged") / "data"
    shutil.copytree(dataset(tmp_path_factory), root, ignore=shutil.ignore_patterns(".*"))
    bad = next((root / "Actor_01").glob("02-*.mp4"))
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, bad.stat().st_size, dtype=np.uint8).tobytes())
    return root, bad


def test_a_corrupt_clip_is_skipped_listed_and_left_out_of_train_and_eval(damaged_dataset, tmp_path):
    root, bad = damaged_dataset
    cache = tmp_path / "cache"
    common = ["--image-size", IMAGE_SIZE, "--cache-dir", cache, "--no-progress", "--preprocess-workers", "1"]

    proc = run_cli("preprocess", root, *common, "--strict")
    assert_clean_error(proc, 1, "1 of 6 clips could not be preprocessed", str(bad))

    proc = run_cli("preprocess", root, *common)
    assert proc.returncode == 0 and "features cached: 2 train / 1 val / 2 test" in proc.stdout, proc
    assert "skipped unreadable clip" in proc.stderr and str(bad) in proc.stderr, proc.stderr
    report = next(cache.glob("*/skipped.json"))
    entries = json.loads(report.read_text())["skipped"]
    assert [e["video"] for e in entries] == [str(bad)] and "cannot open" in entries[0]["reason"], entries
    assert not list(cache.glob("*/.*.tmp"))  # the report was written atomically

    model = tmp_path / "model"
    proc = run_cli("train", root, *common, "--val-actors", "2", "--test-actors", "3", "--epochs", "1",
                   "--batch-size", "2", "--workers", "0", "--out", model, "--run-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "1 of 6 clips are left out" in proc.stderr and "training on 1 clips" in proc.stdout, proc
    proc = run_cli("eval", root, *common, "--model", model, "--subset", "all", "--json")
    assert proc.returncode == 0 and "1 of 6 clips are left out" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["n_clips"] == 5, proc.stdout
    assert_clean_error(run_cli("eval", root, *common, "--model", model, "--strict"), 1, str(bad))


def test_a_missing_clip_not_listed_as_skipped_is_still_refused(damaged_dataset, tmp_path):
    from avemotion_core.data.dataset import DatasetError, get_audiovisual_emotion_dataset

    root, bad = damaged_dataset
    kwargs = {"target_im_size": int(IMAGE_SIZE), "cache_dir": tmp_path, "workers": 1, "progress": False}
    with pytest.warns(UserWarning, match="skipped unreadable clip"):
        get_audiovisual_emotion_dataset(root, preprocess=True, **kwargs)
    next(tmp_path.glob("*/skipped.json")).unlink()
    with pytest.raises(DatasetError, match="1 of 6 clips are not in the feature cache"):
        get_audiovisual_emotion_dataset(root, preprocess=False, **kwargs)


def mcap_message_headers(data: bytes) -> list[int]:
    """Offsets of the Message records' headers (channel id, sequence, times) inside the mcap's
    uncompressed chunks, walked by the record layout of the MCAP specification."""
    out, pos = [], 8  # after the magic
    while pos < len(data) - 8:
        op, length = data[pos], struct.unpack_from("<Q", data, pos + 1)[0]
        body = pos + 9
        if op == 0x06:  # Chunk: start, end, uncompressed size, crc, compression, records length, records
            (name_len,) = struct.unpack_from("<I", data, body + 28)
            record, end = body + 32 + name_len + 8, body + length
            while record < end:
                if data[record] == 0x05:
                    out.append(record + 9)
                record += 9 + struct.unpack_from("<Q", data, record + 1)[0]
        if op == 0x02:  # Footer
            break
        pos = body + length
    return out


def test_replay_counts_messages_read_against_declared_and_strict_refuses_a_short_bag(
        tmp_path, capsys, tmp_path_factory):
    clips = sorted((dataset(tmp_path_factory) / "Actor_01").glob("02-*.mp4"))
    bag = tmp_path / "bag"
    assert main(["bag-from-clip", *map(str, clips), "--out", str(bag)]) == 0
    replay = ["replay", "--image-size", IMAGE_SIZE, "--no-progress"]
    capsys.readouterr()
    assert main([*replay, str(bag), "--out-dir", str(tmp_path / "whole")]) == 0
    assert "warning" not in capsys.readouterr().err
    counts = json.loads((tmp_path / "whole" / "summary.json").read_text())["messages"]
    assert all(c["read"] == c["declared"] > 0 for c in counts.values()), counts

    damaged = tmp_path / "damaged"
    shutil.copytree(bag, damaged)
    mcap = next(damaged.glob("*.mcap"))
    data = bytearray(mcap.read_bytes())
    headers = mcap_message_headers(bytes(data))
    assert len(headers) == sum(c["declared"] for c in counts.values())
    for k, head in enumerate(headers[len(headers) // 2 :][:5]):  # five records in the middle
        data[head : head + 22] = np.random.default_rng(k).integers(0, 256, 22, dtype=np.uint8).tobytes()
    mcap.write_bytes(bytes(data))

    assert main([*replay, str(damaged), "--out-dir", str(tmp_path / "short")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    summary = json.loads((tmp_path / "short" / "summary.json").read_text())["messages"]
    assert sum(c["read"] for c in summary.values()) == len(headers) - 5, summary
    short = {t: c for t, c in summary.items() if c["read"] < c["declared"]}
    assert len(warned) == 1 and str(damaged) in warned[0], warned
    for topic, c in short.items():
        assert f"{topic}: read {c['read']} of {c['declared']} declared messages" in warned[0], warned

    assert main([*replay, str(damaged), "--strict"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and "declared messages" in err[0], err
