"""``avemotion`` train / eval / infer / export end to end on a small generated dataset.

Everything runs through the real console script in subprocesses; results are checked against the
library called in-process on the same files, so a CLI that printed plausible but wrong numbers fails.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from cli_support import IMAGE_SIZE, ROOT, dataset, run_cli

from avemotion_core.cli import main
from avemotion_core.cli.common import load_learner
from avemotion_core.learner import AudiovisualEmotionLearner


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> dict[str, Path]:
    """One epoch of training driven by a YAML config (a flag overrides its epoch count)."""
    tmp = tmp_path_factory.mktemp("train")
    cfg = tmp / "train.yaml"
    cfg.write_text(
        f"epochs: 5\nbatch-size: 2\nworkers: 0\nimage-size: {IMAGE_SIZE}\ncheckpoint_every: 1\nlr: 0.01\n"
    )
    out, runs = tmp / "model", tmp / "runs"
    proc = run_cli(
        "train", data, "--config", cfg, "--epochs", "1", "--out", out, "--run-dir", runs, "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    return {"model": out, "runs": runs, "config": cfg, "log": proc.stdout}


def test_train_saves_a_loadable_model_logs_and_checkpoints(trained):
    assert "epoch 1/1 train loss" in trained["log"]  # --epochs on the command line beat the YAML's 5
    learner = load_learner(trained["model"])
    assert learner.fusion == "ia" and learner.num_class == 8
    assert (trained["runs"] / "checkpoints" / "epoch_0001.pt").is_file()
    assert list(trained["runs"].glob("events.out.tfevents.*")), "no TensorBoard event file"


def test_train_resumes_from_an_epoch_checkpoint(trained, data, tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(trained["runs"], runs)
    out = tmp_path / "model"
    argv = ["train", str(data), "--config", str(trained["config"]), "--epochs", "2", "--resume-epoch", "1"]
    assert main([*argv, "--out", str(out), "--run-dir", str(runs), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    first = next(line for line in trained["log"].splitlines() if line.startswith("epoch 1/1"))
    # epoch 1 comes back from the checkpoint (identical numbers), only epoch 2 is trained
    assert first.replace("1/1", "1/2") in stdout
    assert "epoch 2/2 train loss" in stdout
    load_learner(out)
    assert (runs / "checkpoints" / "epoch_0002.pt").is_file()
    argv = ["train", str(data), "--resume-epoch", "3", "--epochs", "4", "--run-dir", str(tmp_path / "none")]
    assert main(argv) == 2
    assert "epoch_0003.pt does not exist" in capsys.readouterr().err


def test_eval_reports_all_modes_and_a_consistent_confusion_matrix(trained, data, tmp_path):
    out = tmp_path / "eval"
    proc = run_cli(
        "eval",
        data,
        "--model",
        trained["model"],
        "--image-size",
        IMAGE_SIZE,
        "--subset",
        "all",
        "--json",
        "--out-dir",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n_clips"] == 6
    assert set(report["modes"]) == {"audiovisual", "onlyaudio", "noisyvideo", "onlyvideo", "noisyaudio"}
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (8, 8) and cm.sum() == 6
    assert cm[[2, 3]].sum() == 6  # only happy (2) and sad (3) clips were generated
    assert report["acc"] == pytest.approx(np.trace(cm) / 6)
    assert report["modes"]["audiovisual"]["acc"] == report["acc"]
    assert report["per_class_acc"]["neutral"] is None  # no neutral clips: n/a, not 0
    png = cv2.imread(str(out / "confusion_audiovisual.png"))
    assert png is not None and png.shape[0] > 8 * 50 and png.shape[1] > 8 * 50
    with open(out / "confusion_audiovisual.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == report["labels"]
    assert np.array([[int(x) for x in r[1:]] for r in rows[1:]]).tolist() == report["confusion_matrix"]
    assert json.loads((out / "metrics.json").read_text()) == report


def test_infer_matches_the_library_on_the_same_clips(trained, data, tmp_path):
    """JSON on stdout + CSV file in one run; an unreadable clip is reported but does not stop the rest."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    table = tmp_path / "pred.csv"
    proc = run_cli(
        "infer",
        data / "Actor_01",
        broken,
        "--model",
        trained["model"],
        "--image-size",
        IMAGE_SIZE,
        "--json",
        "-",
        "--csv",
        table,
    )
    assert proc.returncode == 1 and "1 of 3 clips could not be read" in proc.stderr, proc.stderr
    assert "broken.mp4" in proc.stderr and "Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)
    videos = sorted((data / "Actor_01").glob("02-*.mp4"))
    assert sorted({r["clip"] for r in rows}) == [str(v) for v in videos]
    learner = load_learner(trained["model"])
    for video in videos:
        wav = video.with_name("03" + video.stem[2:] + ".wav")
        a, v = learner.load_inference_data(str(wav), str(video), split=True, image_size=int(IMAGE_SIZE))
        expected = learner.infer(a, v)
        got = [r for r in rows if r["clip"] == str(video)]
        assert len(got) == len(expected) >= 1
        for r, cat in zip(got, expected, strict=True):
            assert r["audio"] == str(wav) and r["label"] == cat.description
            assert r["confidence"] == pytest.approx(cat.confidence, abs=1e-5)
            assert sum(r["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    with open(table) as f:
        csv_rows = list(csv.DictReader(f))
    assert [(r["clip"], r["label"]) for r in csv_rows] == [(r["clip"], r["label"]) for r in rows]
    assert all(
        float(c["confidence"]) == pytest.approx(r["confidence"]) for c, r in zip(csv_rows, rows, strict=True)
    )


def test_export_torchscript_and_onnx_reproduce_pytorch(trained, tmp_path):
    out = tmp_path / "export"
    fmt = "both"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        fmt = "torchscript"
    proc = run_cli("export", out, "--model", trained["model"], "--image-size", IMAGE_SIZE, "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "export.json").read_text())
    assert all(d <= 1e-4 for d in report["max_abs_diff"].values()) and report["max_abs_diff"]
    assert report["labels"][2] == "happy"
    learner = load_learner(trained["model"])
    scripted = torch.jit.load(str(out / "model.torchscript.pt"))
    g = torch.Generator().manual_seed(5)
    audio = torch.randn(3, 10, 156, generator=g)
    video = torch.rand(3, 3, 15, int(IMAGE_SIZE), int(IMAGE_SIZE), generator=g)
    with torch.no_grad():
        assert (scripted(audio, video) - learner.model(audio, video)).abs().max() <= 1e-4
    if fmt == "both":
        import onnxruntime

        sess = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        (logits,) = sess.run(None, {"audio": audio.numpy(), "video": video.numpy()})
        with torch.no_grad():
            assert np.abs(logits - learner.model(audio, video).numpy()).max() <= 1e-4


def test_export_dir_is_a_model_directory_the_learner_runs(trained, tmp_path):
    """The export folder loads through from_model_dir (as the node and `infer` do) and runs the graph."""
    from avemotion_core.fileio import ModelFileError

    out = tmp_path / "ts"
    assert main(["export", str(out), "--model", str(trained["model"]), "--format", "torchscript"]) == 0
    source = load_learner(trained["model"])
    exported = AudiovisualEmotionLearner.from_model_dir(out)
    assert exported.exported and not source.exported
    assert (exported.labels, exported.image_size, exported.fusion) == (source.labels, source.image_size,
                                                                       source.fusion)
    g = torch.Generator().manual_seed(3)
    audio = torch.randn(2, 10, 156, generator=g)
    video = torch.rand(2, 3, 15, source.image_size, source.image_size, generator=g)
    for mode in ("audiovisual", "onlyaudio", "onlyvideo"):
        for a, b in zip(exported.infer(audio, video, mode), source.infer(audio, video, mode), strict=True):
            assert a.description == b.description and a.mode == mode
            assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-5
    with pytest.raises(RuntimeError, match="TorchScript export"):
        exported.save(str(tmp_path / "copy"))
    with pytest.raises(RuntimeError, match="TorchScript export"):
        exported.fit([])
    with pytest.raises(ModelFileError, match="TorchScript export"):
        source.load(str(out))
    with pytest.raises(ModelFileError, match="TorchScript export of fusion 'ia'"):
        AudiovisualEmotionLearner.from_model_dir(out, fusion="lt")
    meta = json.loads((out / "metadata.json").read_text())
    for broken, match in ((dict(meta, sha256={}), "records no SHA-256"),
                          ({k: v for k, v in meta.items() if k != "image_size"}, "image_size")):
        bad = tmp_path / f"bad_{match[:7]}"
        shutil.copytree(out, bad)
        (bad / "metadata.json").write_text(json.dumps(broken))
        with pytest.raises(ModelFileError, match=match):
            AudiovisualEmotionLearner.from_model_dir(bad)
    # the graph is a program: only the exact file that was hashed is run
    graph = out / "model.torchscript.pt"
    graph.write_bytes(graph.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        AudiovisualEmotionLearner.from_model_dir(out)
    # exporting into a trained model's folder would overwrite its metadata: refused
    assert main(["export", str(trained["model"]), "--model", str(trained["model"])]) == 2
    # an export outside the tolerance is deleted, metadata included (conv-BN folding is never exact)
    strict = tmp_path / "strict"
    assert main(["export", str(strict), "--model", str(trained["model"]), "--format", "torchscript",
                 "--tolerance", "1e-15"]) == 1
    assert not (strict / "model.torchscript.pt").exists() and not (strict / "metadata.json").exists()
    assert json.loads((strict / "export.json").read_text())["max_abs_diff"]["torchscript"] > 0


def test_torchrun_ddp_two_processes_on_cpu(data, tmp_path):
    """Real DDP: two gloo processes run `avemotion train` (instrumented by ddp_train_worker.py) for
    one epoch of two steps. The ranks must train on disjoint shards of the training set and end with
    identical weights although their data differed (gradients were averaged); rank 0 alone writes a
    model that loads."""
    out, record = tmp_path / "ddp_model", tmp_path / "record"
    record.mkdir()
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        str(ROOT / "test" / "ddp_train_worker.py"),
        str(record),
        "train",
        str(data),
        "--image-size",
        IMAGE_SIZE,
        "--split",
        "random",  # 4 of the 6 clips train: 2 per rank
        "--epochs",
        "1",
        "--batch-size",
        "1",  # two steps per rank: DDP's bucket bookkeeping must survive the second one
        "--lr",
        "0.1",
        "--workers",
        "0",
        "--out",
        str(out),
        "--run-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "training on 4 clips" in proc.stdout, proc.stdout
    assert "2 process(es)" in proc.stdout and proc.stdout.count("saved model to") == 1
    ranks = [torch.load(record / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    shards = [set(r["seen"]) for r in ranks]
    assert all(len(r["seen"]) == 2 for r in ranks), [r["seen"] for r in ranks]
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(ranks[0]["n_train"]))
    changed = 0
    for name, w0 in ranks[0]["final"].items():
        assert torch.equal(w0, ranks[1]["final"][name]), f"{name} differs between the ranks"
        changed += not torch.equal(w0, ranks[0]["start"][name])
    assert changed > len(ranks[0]["final"]) // 2, "the step did not change the weights"
    learner = AudiovisualEmotionLearner()
    learner.load(str(out))
    for name, w in learner.model.named_parameters():
        assert torch.equal(w, ranks[0]["final"][name])  # the saved model is what the ranks ended with


def test_eval_takes_the_crop_size_from_the_model(trained, data, capsys):
    """No --image-size: the model's 64 px, not 224 px crops it never saw (which scored at chance)."""
    base = ["eval", str(data), "--model", str(trained["model"]), "--subset", "all", "--json", "--no-progress"]
    assert main(base) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image_size"] == int(IMAGE_SIZE)
    assert main([*base, "--image-size", IMAGE_SIZE]) == 0
    assert json.loads(capsys.readouterr().out) == report
    assert main([*base, "--image-size", "224"]) == 2
    err = capsys.readouterr().err
    assert "--image-size 224 differs from the model's 64 px" in err and len(err.strip().splitlines()) == 1


def test_infer_audio_only_and_onlyvideo_without_audio(trained, data, capsys):
    """--audio alone runs onlyaudio; a silent video runs in --mode onlyvideo; errors name the flags."""
    model = str(trained["model"])
    wav = sorted((data / "Actor_01").glob("03-*.wav"))[0]
    silent = sorted((data / "Actor_01").glob("02-*.mp4"))[0]  # RAVDESS video-only: no audio track
    assert main(["infer", "--audio", str(wav), "--model", model, "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out)
    labels = load_learner(model).labels
    assert rows and all(r["clip"] == str(wav) and r["mode"] == "onlyaudio" for r in rows), rows
    assert all(r["label"] in labels and sum(r["scores"].values()) == pytest.approx(1, abs=1e-4) for r in rows)
    argv = ["infer", "--video", str(silent), "--mode", "onlyvideo", "--model", model, "--json", "-"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["mode"] for r in rows} == {"onlyvideo"}
    for argv, message in (
        (["--video", str(silent)], "no audio track: pass its sound with --audio FILE, or use --mode"),
        (["--audio", str(wav), "--mode", "onlyvideo"], "use --mode onlyaudio"),
    ):
        assert main(["infer", *argv, "--model", model]) == 2
        err = capsys.readouterr().err
        assert message in err and "audio_path" not in err, err


def test_eval_scores_by_emotion_name_and_refuses_another_class_set(trained, data, tmp_path, capsys):
    """Issue 14 item 9: a model whose labels are the RAVDESS emotions in another order is scored by
    name (same per-class accuracy as the original); a 6-class model is one line, exit 2."""
    import torch

    base = ["--subset", "all", "--json", "--no-progress", "--mode", "audiovisual"]
    assert main(["eval", str(data), "--model", str(trained["model"]), *base]) == 0
    original = json.loads(capsys.readouterr().out)
    learner = AudiovisualEmotionLearner.from_model_dir(trained["model"])
    learner.image_size = int(IMAGE_SIZE)
    head = learner.model.classifier[0]
    with torch.no_grad():  # the same model with its outputs (and their names) in reverse order
        head.weight.copy_(head.weight.flip(0))
        head.bias.copy_(head.bias.flip(0))
    learner.labels = learner.labels[::-1]
    permuted = learner.save(str(tmp_path / "permuted"), verbose=False)
    assert main(["eval", str(data), "--model", str(permuted), *base]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"] == original["labels"][::-1]
    assert report["acc"] == pytest.approx(original["acc"])
    assert report["per_class_acc"] == pytest.approx(original["per_class_acc"], nan_ok=True)
    six = AudiovisualEmotionLearner(num_class=6, image_size=int(IMAGE_SIZE)).save(str(tmp_path / "six"),
                                                                                 verbose=False)
    assert main(["eval", str(data), "--model", str(six), *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "are not the 8 RAVDESS emotions" in err[0], err
