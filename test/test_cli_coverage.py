"""``avemotion`` options that had no test: preprocess into a fresh cache, --val-actors / --split,
train --fusion it/lt with --restore-best, the eval table with --mode, infer --video + --audio with
--mode, export --format onnx, and Ctrl-C exiting 130.

Runs in-process (``main``) on the session's generated dataset; results are compared with the library
called directly on the same files.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import IMAGE_SIZE, SCRIPT, dataset
from torch.utils.data import ConcatDataset

from avemotion_core.cli import main
from avemotion_core.cli.common import load_learner
from avemotion_core.cli.train import EVAL_MODES
from avemotion_core.data.dataset import get_audiovisual_emotion_dataset

SIZE = int(IMAGE_SIZE)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def lt_model(data, tmp_path_factory) -> dict[str, Path | str]:
    """`train --fusion lt --restore-best` with actor 2 as validation and actor 3 as test, validated
    in onlyvideo mode: its accuracy stays at its first epoch's (0.5), so the best epoch is the first
    and restoring it is visible in the saved weights."""
    tmp = tmp_path_factory.mktemp("lt")
    out, runs = tmp / "model", tmp / "runs"
    argv = ["train", str(data), "--image-size", IMAGE_SIZE, "--fusion", "lt", "--val-actors", "2",
            "--test-actors", "3", "--epochs", "3", "--batch-size", "2", "--workers", "0", "--lr", "0.05",
            "--eval-mode", "onlyvideo", "--restore-best", "--out", str(out), "--run-dir", str(runs),
            "--no-progress", "--preprocess-workers", "1"]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return {"model": out, "runs": runs, "log": buf.getvalue()}


def test_preprocess_fills_a_fresh_cache_with_the_chosen_split(data, tmp_path, capsys):
    cache = tmp_path / "cache"
    argv = ["preprocess", str(data), "--image-size", IMAGE_SIZE, "--cache-dir", str(cache),
            "--val-actors", "2", "--test-actors", "3", "--preprocess-workers", "1", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "features cached: 2 train / 2 val / 2 test clips (actors train [1], val [2], test [3])" in out, out
    files = [p for p in cache.rglob("*") if p.is_file() and p.suffix not in (".json", ".tmp")]
    assert len(files) >= 6, files  # one feature file per clip
    train, val, test = get_audiovisual_emotion_dataset(str(data), preprocess=False, target_im_size=SIZE,
                                                       cache_dir=str(cache), val_actors=[2], test_actors=[3])
    assert (train.actors, val.actors, test.actors) == ([1], [2], [3])
    audio, video, label = train[0]
    assert tuple(audio.shape) == (10, 156) and tuple(video.shape) == (3, 15, SIZE, SIZE)
    assert label in (2, 3)  # happy / sad
    # a second run resumes: nothing is recomputed
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes


def test_train_lt_restores_the_best_epoch(lt_model):
    log = lt_model["log"]
    assert "training on 2 clips (val 2)" in log, log  # --val-actors 2 --test-actors 3: actor 1 trains
    learner = load_learner(lt_model["model"])
    assert learner.fusion == "lt"
    ckpt = lt_model["runs"] / "checkpoints"
    best = torch.load(ckpt / "best.pt", weights_only=False)
    last = torch.load(ckpt / "last.pt", weights_only=False)
    val = last["history"]["val_acc"]
    assert len(val) == 3 and best["epoch"] == int(np.argmax(val)) + 1  # first epoch with the top accuracy
    assert best["epoch"] < last["epoch"], "the best epoch is the last: restore-best would be untested"
    saved = learner.model.state_dict()
    assert all(torch.equal(saved[k].cpu(), v.cpu()) for k, v in best["model"].items())
    assert any(not torch.equal(saved[k].cpu(), v.cpu()) for k, v in last["model"].items())


def test_train_it_with_a_random_split(data, tmp_path, capsys):
    out = tmp_path / "it"
    argv = ["train", str(data), "--image-size", IMAGE_SIZE, "--fusion", "it", "--split", "random",
            "--epochs", "1", "--batch-size", "2", "--workers", "0", "--out", str(out),
            "--run-dir", str(tmp_path / "runs"), "--no-progress", "--preprocess-workers", "1"]
    assert main(argv) == 0
    # the library's seeded random split of the 6 clips: 4 train, 1 val, 1 test (actors shared)
    train, val, _ = get_audiovisual_emotion_dataset(str(data), preprocess=False, target_im_size=SIZE,
                                                    split="random")
    assert (len(train), len(val)) == (4, 1)
    assert f"training on {len(train)} clips (val {len(val)})" in capsys.readouterr().out
    learner = load_learner(out)
    assert learner.fusion == "it"
    assert sum(p.numel() for p in learner.model.parameters()) == 1_938_414  # OpenDR's it model


def test_eval_table_and_mode(lt_model, data, tmp_path, capsys):
    learner = load_learner(lt_model["model"])
    parts = get_audiovisual_emotion_dataset(str(data), preprocess=True, target_im_size=SIZE, progress=False)
    for part in parts:
        part.augment = False
    every = ConcatDataset([p for p in parts if len(p)])
    expected = {m: learner.eval(every, silent=True, verbose=False, mode=m) for m in EVAL_MODES}
    # a mode whose confusion matrix differs from audiovisual's, so ignoring --mode would show
    mode = next((m for m in EVAL_MODES[1:]
                 if expected[m]["confusion_matrix"] != expected["audiovisual"]["confusion_matrix"]), None)
    assert mode is not None, "every mode gives the same confusion matrix on this model"
    out = tmp_path / "eval"
    argv = ["eval", str(data), "--model", str(lt_model["model"]), "--image-size", IMAGE_SIZE,
            "--subset", "all", "--mode", mode, "--out-dir", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("all: 6 clips\n"), text
    table = {m: (float(a), float(loss)) for m, a, loss in
             re.findall(r"^(\w+)\s+([0-9.]+)\s+([0-9.]+)$", text, re.MULTILINE)}
    assert set(table) == set(EVAL_MODES), text
    for m, (acc, loss) in table.items():
        assert acc == pytest.approx(expected[m]["acc"], abs=6e-5)
        assert loss == pytest.approx(expected[m]["cross_entropy"], abs=6e-5)
    assert f"per-class accuracy ({mode}):" in text
    for label, acc in expected[mode]["per_class_acc"].items():
        shown = re.search(rf"^  {label}\s+(\S+)$", text, re.MULTILINE).group(1)
        assert shown == ("n/a" if acc is None or np.isnan(acc) else f"{acc:.4f}")
    with open(out / f"confusion_{mode}.csv") as f:
        rows = list(csv.reader(f))
    assert [[int(x) for x in r[1:]] for r in rows[1:]] == expected[mode]["confusion_matrix"]
    assert (out / f"confusion_{mode}.png").is_file() and not (out / "confusion_audiovisual.csv").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == mode and metrics["acc"] == pytest.approx(expected[mode]["acc"])


def test_infer_video_plus_audio_in_a_mode(lt_model, data, capsys):
    video = sorted((data / "Actor_02").glob("02-*.mp4"))[0]
    wav = video.with_name("03" + video.stem[2:] + ".wav")
    learner = load_learner(lt_model["model"])
    a, v = learner.load_inference_data(str(wav), str(video), split=True, image_size=SIZE)
    mode = "onlyvideo"  # the default (audiovisual) on clips: test_cli_train.py
    argv = ["infer", "--video", str(video), "--audio", str(wav), "--model", str(lt_model["model"]),
            "--image-size", IMAGE_SIZE, "--mode", mode, "--json", "-"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    cats = learner.infer(a, v, mode=mode)
    assert [(r["clip"], r["audio"], r["mode"], r["label"]) for r in rows] == [
        (str(video), str(wav), mode, c.description) for c in cats]
    for r, c in zip(rows, cats, strict=True):
        assert r["scores"] == pytest.approx(c.scores, abs=1e-5)


def test_export_onnx_only(lt_model, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    argv = ["export", str(out), "--model", str(lt_model["model"]), "--format", "onnx",
            "--image-size", IMAGE_SIZE]
    assert main(argv) == 0
    assert (out / "model.onnx").is_file() and not (out / "model.torchscript.pt").exists()
    report = json.loads((out / "export.json").read_text())
    assert list(report["max_abs_diff"]) == ["onnx"] and report["fusion"] == "lt"
    learner = load_learner(lt_model["model"])
    g = torch.Generator().manual_seed(11)
    audio, video = torch.randn(3, 10, 156, generator=g), torch.rand(3, 3, 15, SIZE, SIZE, generator=g)
    sess = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"audio": audio.numpy(), "video": video.numpy()})
    with torch.no_grad():
        ref = learner.model.eval()(audio, video).numpy()
    assert np.abs(logits - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    out = tmp_path / "gen"
    cmd = [str(SCRIPT), "generate", str(out), "--actors", "4", "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while not (out.is_dir() and any(out.rglob("*.*"))):  # working: the first files appeared
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert "avemotion generate: interrupted" in stderr and "Traceback" not in stderr, stderr
