"""``avemotion bag-from-clip`` + ``replay``: real rosbag2 files (mcap and sqlite3) through the node's path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_support import IMAGE_SIZE, dataset, run_cli
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from avemotion_core.cli import main
from avemotion_core.cli.bag import typestore
from avemotion_core.learner import AudiovisualEmotionLearner
from avemotion_core.media.video import probe_video

START = 1_700_000_000.0


def label_in_file(path: Path, t: float) -> str:
    """The label of the labels CSV row whose [start, end) holds ``t`` ('' if none): the reference
    replay's scoring is checked against."""
    with open(path) as f:
        hits = [r["label"] for r in csv.DictReader(f) if float(r["start"]) <= t < float(r["end"])]
    assert len(hits) <= 1, hits
    return hits[0] if hits else ""


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    root = dataset(tmp_path_factory)
    return sorted((root / "Actor_01").glob("02-*.mp4"))  # one happy, one sad clip (~3.5-4 s each)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return AudiovisualEmotionLearner().save(str(tmp_path_factory.mktemp("model") / "m"))


@pytest.fixture(scope="module")
def bags(clips, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bags")
    made = {"mcap": tmp / "mcap_bag", "sqlite3": tmp / "db3_bag", "labels": tmp / "labels.csv"}
    proc = run_cli("bag-from-clip", *clips, "--out", made["mcap"], "--labels-out", made["labels"])
    assert proc.returncode == 0, proc.stderr
    argv = ["bag-from-clip", *map(str, clips), "--out", str(made["sqlite3"]), "--storage", "sqlite3"]
    argv += ["--audio-flavour", "raw", "--image-topic", "/cam", "--audio-topic", "/mic"]
    assert main(argv) == 0  # in-process: the console script itself was exercised just above
    return made


def test_bag_holds_stamped_frames_and_audio_chunks(bags, clips):
    infos = [probe_video(c) for c in clips]
    store = typestore("modern")
    with Reader(bags["mcap"]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {
            "/camera/image_raw": "sensor_msgs/msg/Image",
            "/audio": "audio_common_msgs/msg/AudioStamped",
        }
        frames, chunks = [], []
        for conn, log_ns, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if conn.topic == "/audio":
                chunks.append((stamp, log_ns, msg.audio))
            else:
                frames.append((stamp, log_ns, msg))
    assert len(frames) == sum(i.n_frames for i in infos)
    first = frames[0][2]
    assert (first.encoding, first.height, first.width, first.step) == ("rgb8", 144, 192, 192 * 3)
    stamps = np.array([f[0] for f in frames])
    np.testing.assert_allclose(np.diff(stamps), 1 / infos[0].fps, atol=2e-6)  # frames at the clip rate
    assert stamps[0] == pytest.approx(START)
    assert all(f[1] == round(f[0] * 1e9) for f in frames)  # logged when captured
    rate = chunks[0][2].info.rate
    total = sum(len(c[2].audio_data.int16_data) for c in chunks)
    assert rate == 16000 and chunks[0][2].info.format == 8
    assert total == pytest.approx(sum(i.duration for i in infos) * rate, abs=2)  # audio as long as video
    for (s0, _, a0), (s1, _, _) in zip(chunks, chunks[1:], strict=False):
        assert s1 - s0 == pytest.approx(len(a0.audio_data.int16_data) / rate, abs=1e-6)  # contiguous
    with open(bags["labels"]) as f:
        labels = list(csv.DictReader(f))
    assert [r["label"] for r in labels] == ["happy", "sad"]
    assert float(labels[1]["start"]) == pytest.approx(infos[0].duration, abs=1e-5)


def test_replay_scores_windows_and_storage_formats_agree(bags, model, tmp_path):
    out = tmp_path / "replay"
    proc = run_cli(
        "replay",
        bags["mcap"],
        "--model",
        model,
        "--image-size",
        IMAGE_SIZE,
        "--hop",
        "0.96",
        "--labels",
        bags["labels"],
        "--out-dir",
        out,
        "--json",
        tmp_path / "mcap.json",
        "--csv",
        tmp_path / "mcap.csv",
    )
    assert proc.returncode == 0, proc.stderr
    assert "latency per window: p50" in proc.stdout and "accuracy" in proc.stdout
    result = json.loads((tmp_path / "mcap.json").read_text())
    windows, summary = result["windows"], result["summary"]
    duration = summary["bag_seconds"]
    # windows end 3.6 s after the first message, then every hop (4 lattice steps), while data covers them
    ends = [w["end"] for w in windows]
    assert ends == pytest.approx([3.6 + 0.96 * k for k in range(len(ends))], abs=1e-6)
    assert 3.6 + 0.96 * (len(ends) - 1) <= duration + 1e-6 < 3.6 + 0.96 * len(ends) + 1
    assert all(
        w["mode"] == "audiovisual" and w["audio_coverage"] == 1.0 and w["frame_coverage"] == 1.0
        for w in windows
    )
    lat = summary["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    # the true label of each window is the labels file's range holding the window's centre
    truth = [label_in_file(bags["labels"], (w["start"] + w["end"]) / 2) for w in windows]
    assert {"happy", "sad"} <= set(truth), truth  # windows on both clips
    assert [w["true_label"] for w in windows] == truth
    sc = summary["scoring"]
    assert sc["labelled_windows"] == len(windows) and sc["unlabelled_windows"] == 0
    assert sc["acc"] == pytest.approx(np.mean([w["label"] == t for w, t in zip(windows, truth, strict=True)]))
    cm = np.array(sc["confusion_matrix"])
    assert cm.sum() == len(windows)
    pairs = [(t, w["label"]) for w, t in zip(windows, truth, strict=True)]
    for i, name in enumerate(sc["labels"]):  # row = true label, column = prediction
        assert cm[i].tolist() == [pairs.count((name, predicted)) for predicted in sc["labels"]]
    # --csv and --out-dir's windows.csv / summary.json carry the same windows and summary
    for table in (tmp_path / "mcap.csv", out / "windows.csv"):
        with open(table) as f:
            rows = list(csv.DictReader(f))
        assert [(float(r["end"]), r["label"], r["true_label"], r["mode"]) for r in rows] == [
            (w["end"], w["label"], w["true_label"], w["mode"]) for w in windows
        ]
        assert [float(r["confidence"]) for r in rows] == pytest.approx([w["confidence"] for w in windows])
    assert json.loads((out / "summary.json").read_text()) == summary
    with open(out / "confusion.csv") as f:
        crows = list(csv.reader(f))
    assert [[int(x) for x in r[1:]] for r in crows[1:]] == sc["confusion_matrix"]
    assert (out / "confusion.png").is_file() and (out / "confusion.csv").is_file()
    # the same recording in sqlite3 storage with raw int16 audio decodes to identical predictions
    other_json = tmp_path / "sqlite3.json"
    argv = ["replay", str(bags["sqlite3"]), "--model", str(model), "--image-size", IMAGE_SIZE, "--hop", "1.0"]
    assert main([*argv, "--raw-audio-rate", "16000", "--json", str(other_json)]) == 0
    other = json.loads(other_json.read_text())["windows"]
    assert [(w["end"], w["label"]) for w in other] == [(w["end"], w["label"]) for w in windows]
    np.testing.assert_allclose(
        [w["confidence"] for w in other], [w["confidence"] for w in windows], atol=1e-5
    )


def test_replay_compressed_images(clips, model, tmp_path):
    bag = tmp_path / "jpeg_bag"
    assert main(["bag-from-clip", str(clips[1]), "--out", str(bag), "--compressed", "--chunk-ms", "32"]) == 0
    assert (
        main(
            [
                "replay",
                str(bag),
                "--model",
                str(model),
                "--image-size",
                IMAGE_SIZE,
                "--hop",
                "2",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["windows"] >= 1 and summary["counters"]["frames"] == probe_video(clips[1]).n_frames


def test_replay_errors_are_clean(bags, model, tmp_path, capsys):
    base = ["replay", str(bags["mcap"]), "--model", str(model), "--image-size", IMAGE_SIZE]
    assert main([*base, "--image-topic", "/nope"]) == 2
    err = capsys.readouterr().err
    assert "'/nope' is not in the bag" in err and "/camera/image_raw [sensor_msgs/msg/Image]" in err
    assert main([*base, "--image-topic", "/audio"]) == 2
    assert "cannot decode" in capsys.readouterr().err
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("start,end,label\n0,100,bored\n")
    assert main([*base, "--labels", str(bad_labels)]) == 2
    assert "bored" in capsys.readouterr().err
    bad_labels.write_text("begin,stop\n0,1\n")
    assert main([*base, "--labels", str(bad_labels)]) == 2
    assert "needs columns start,end,label" in capsys.readouterr().err
    # a bag with the right topics but no messages
    empty = tmp_path / "empty"
    store = typestore("modern")
    with Writer(empty, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
    assert main(["replay", str(empty), "--model", str(model)]) == 1
    assert "no messages" in capsys.readouterr().err
    # an output bag that exists is never overwritten
    assert main(["bag-from-clip", str(bags["labels"]), "--out", str(bags["mcap"])]) == 2
    assert "exists already" in capsys.readouterr().err


def test_replay_counts_a_decompression_bomb_in_the_bag(model, tmp_path):
    """Issue 14 A/4: a 40000x40000 PNG header among good JPEG frames ended replay in a cv2.error."""
    import cv2
    from test_convert import png_bytes

    store = typestore("modern")
    msg_type = "sensor_msgs/msg/CompressedImage"
    from media_helpers import astronaut

    face = cv2.cvtColor(astronaut(160), cv2.COLOR_RGB2BGR)  # a real face: windows are classified
    good = cv2.imencode(".jpg", face)[1].reshape(-1)
    bomb = np.frombuffer(png_bytes(40000, 40000), np.uint8)
    payloads = [good] * 10 + [bomb] + [good] * 11  # 4.2 s at 5 fps: enough for a window
    bag = tmp_path / "bomb_bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/camera/compressed", msg_type, typestore=store)
        for i, data in enumerate(payloads):
            t = START + i / 5
            header = store.types["std_msgs/msg/Header"](
                stamp=store.types["builtin_interfaces/msg/Time"](sec=int(t), nanosec=round(t % 1 * 1e9)),
                frame_id="cam")
            msg = store.types[msg_type](header=header, format="png" if data is bomb else "jpeg", data=data)
            writer.write(conn, int(t * 1e9), store.serialize_cdr(msg, msg_type))
    out = tmp_path / "r.json"
    argv = ["replay", str(bag), "--model", str(model), "--image-size", IMAGE_SIZE, "--json", str(out)]
    assert main(argv) == 0
    counters = json.loads(out.read_text())["summary"]["counters"]
    assert counters["malformed_compressed_too_large"] == 1 and counters["frames"] == 21, counters


def test_replay_of_a_bag_damaged_inside_is_one_line(bags, model, tmp_path, capsys):
    """Issue 14 item 8: garbage bytes inside an sqlite3 bag ended replay in an apsw.CorruptError
    traceback; the bag opens, the damage shows up while reading."""
    import shutil

    bag = tmp_path / "damaged"
    shutil.copytree(bags["sqlite3"], bag)
    db = next(bag.glob("*.db3"))
    with open(db, "r+b") as f:
        f.seek(db.stat().st_size * 6 // 10 // 4096 * 4096)
        f.write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main(["replay", str(bag), "--model", str(model), "--image-size", IMAGE_SIZE, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is damaged after" in err[0] and "CorruptError" in err[0], err
