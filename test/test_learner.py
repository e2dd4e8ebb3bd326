"""AudiovisualEmotionLearner: infer, save/load, corrupt files, resume, download over real HTTP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

from avemotion_core import Category
from avemotion_core.fileio import DownloadError, ModelFileError
from avemotion_core.learner import AudiovisualEmotionLearner

SIZE = 64  # the backbone is size-agnostic; small frames keep CPU tests fast


def _inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 10, 156, generator=g), torch.rand(batch, 3, 15, SIZE, SIZE, generator=g)


def _dataset(n: int, num_class: int = 4, seed: int = 0) -> TensorDataset:
    audio, video = _inputs(n, seed)
    return TensorDataset(audio, video, torch.arange(n) % num_class)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    learner = AudiovisualEmotionLearner(fusion="ia", n_workers=0, seed=3)
    return learner.save(str(tmp_path_factory.mktemp("model") / "ia"))


def test_infer_single_and_batch() -> None:
    learner = AudiovisualEmotionLearner(n_workers=0)
    audio, video = _inputs(3)
    one = learner.infer(audio[0], video[0])
    assert isinstance(one, Category)
    assert one.description == learner.labels[one.data]
    assert abs(sum(one.scores.values()) - 1.0) < 1e-5
    assert one.confidence == max(one.scores.values())
    batch = learner.infer(audio, video)
    assert [c.data for c in batch][0] == one.data
    assert batch[0].confidence == pytest.approx(one.confidence, abs=1e-5)
    # uint8 video is scaled like float video
    u8 = (video[0] * 255).round().to(torch.uint8)
    assert learner.infer(audio[0], u8).confidence == pytest.approx(
        learner.infer(audio[0], u8.float() / 255).confidence, abs=1e-6
    )
    only = learner.infer(audio[0], video[0], mode="onlyaudio")
    assert only.mode == "onlyaudio"
    assert learner.infer(audio[0], torch.zeros_like(video[0])).scores == pytest.approx(only.scores, abs=1e-6)


@pytest.mark.parametrize(
    "audio,video,match",
    [
        (torch.randn(10, 156), torch.rand(3, 15, SIZE), "expected audio"),
        (torch.randn(2, 10, 156), torch.rand(3, 3, 15, SIZE, SIZE), "batch"),
        (torch.full((10, 156), float("nan")), torch.rand(3, 15, SIZE, SIZE), "NaN"),
    ],
)
def test_infer_rejects_bad_inputs(audio: torch.Tensor, video: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AudiovisualEmotionLearner(n_workers=0).infer(audio, video)


def test_bad_constructor_args() -> None:
    with pytest.raises(ValueError, match="fusion"):
        AudiovisualEmotionLearner(fusion="xx")
    with pytest.raises(ValueError, match="mod_drop"):
        AudiovisualEmotionLearner(mod_drop="sometimes")
    with pytest.raises(ValueError, match="labels"):
        AudiovisualEmotionLearner(num_class=3, labels=["a", "b"])


@pytest.mark.parametrize("fusion", ["ia", "it", "lt"])
def test_save_load_identical_logits(tmp_path: Path, fusion: str) -> None:
    a = AudiovisualEmotionLearner(fusion=fusion, num_class=5, labels=list("abcde"), seed=1)
    audio, video = _inputs(2)
    a.save(str(tmp_path / "m"))
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["fusion"] == fusion and meta["num_class"] == 5 and meta["labels"] == list("abcde")
    assert not list((tmp_path / "m").glob("*.tmp")), "no temp files left behind"
    b = AudiovisualEmotionLearner(fusion=fusion, num_class=5, seed=2)
    b.load(str(tmp_path / "m"))
    assert b.labels == list("abcde")
    a.model.eval()
    with torch.inference_mode():
        assert torch.equal(a.model(audio, video), b.model(audio, video))


def test_load_rejects_mismatched_configuration(trained_dir: Path) -> None:
    # a fusion mismatch: test_from_model_dir_matches_the_metadata (through from_model_dir -> load)
    with pytest.raises(ModelFileError, match="num_class"):
        AudiovisualEmotionLearner(num_class=6).load(str(trained_dir))


def test_load_detects_corrupt_truncated_and_missing_files(trained_dir: Path, tmp_path: Path) -> None:
    learner = AudiovisualEmotionLearner()
    with pytest.raises(ModelFileError, match="not found"):
        learner.load(str(tmp_path / "nope"))

    bad = tmp_path / "flipped"
    shutil.copytree(trained_dir, bad)
    raw = bytearray((bad / "model.safetensors").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (bad / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        learner.load(str(bad))

    # Without a recorded hash the safetensors parser itself must reject truncation.
    cut = tmp_path / "truncated"
    shutil.copytree(trained_dir, cut)
    meta = json.loads((cut / "metadata.json").read_text())
    del meta["sha256"]
    (cut / "metadata.json").write_text(json.dumps(meta))
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="cannot read weights"):
        learner.load(str(cut))

    broken = tmp_path / "badjson"
    shutil.copytree(trained_dir, broken)
    (broken / "metadata.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        learner.load(str(broken))

    gone = tmp_path / "noweights"
    shutil.copytree(trained_dir, gone)
    (gone / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="no weights file"):
        learner.load(str(gone))


def test_load_rejects_pickled_code(tmp_path: Path) -> None:
    """An OpenDR-layout .pt carrying a pickled object (not tensors) must not be executed."""
    root = tmp_path / "evil"
    root.mkdir()
    (root / "metadata.json").write_text(json.dumps({"model_paths": ["model_weights.pt"]}))
    torch.save({"x": Path("/etc/passwd")}, root / "model_weights.pt")
    with pytest.raises(ModelFileError, match="cannot read weights"):
        AudiovisualEmotionLearner().load(str(root))


def test_load_opendr_layout(trained_dir: Path, tmp_path: Path) -> None:
    """OpenDR saves ``model_weights.pt`` (torch.save state_dict) and metadata without fusion."""
    src = AudiovisualEmotionLearner()
    src.load(str(trained_dir))
    root = tmp_path / "opendr"
    root.mkdir()
    torch.save(src.model.state_dict(), root / "model_weights.pt")
    (root / "metadata.json").write_text(
        json.dumps({"framework": "pytorch", "model_paths": ["model_weights.pt"], "format": "pt"})
    )
    dst = AudiovisualEmotionLearner(seed=9)
    dst.load(str(root))
    audio, video = _inputs(1)
    with torch.inference_mode():
        assert torch.equal(src.model(audio, video), dst.model(audio, video))


def test_fit_logs_checkpoints_and_resumes(tmp_path: Path) -> None:
    train, val = _dataset(8), _dataset(4, seed=1)
    kwargs = dict(
        num_class=4, iters=2, batch_size=4, n_workers=0, lr=0.01, lr_steps=[1], checkpoint_after_iter=1,
        image_size=SIZE,
    )
    learner = AudiovisualEmotionLearner(**kwargs)
    hist = learner.fit(train, val, logging_path=str(tmp_path), silent=True)
    assert len(hist["train_loss"]) == 2 and len(hist["val_acc"]) == 2
    assert all(np.isfinite(hist["train_loss"]))
    ckpts = tmp_path / "checkpoints"
    assert {p.name for p in ckpts.iterdir()} >= {"last.pt", "best.pt", "epoch_0001.pt", "epoch_0002.pt"}
    assert list(tmp_path.glob("events.out.tfevents.*")), "TensorBoard event file written"

    resumed = AudiovisualEmotionLearner(**{**kwargs, "iters": 3, "checkpoint_load_iter": 2})
    hist2 = resumed.fit(train, val, logging_path=str(tmp_path), silent=True)
    assert hist2["train_loss"][:2] == hist["train_loss"] and len(hist2["train_loss"]) == 3
    state = torch.load(ckpts / "last.pt", weights_only=True)
    assert state["epoch"] == 3
    # lr_steps=[1]: decayed once after epoch 1 and not again on resume
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.001)

    with pytest.raises(ModelFileError, match="checkpoint not found"):
        AudiovisualEmotionLearner(**{**kwargs, "checkpoint_load_iter": 7}).fit(
            train, logging_path=str(tmp_path), silent=True
        )


def test_eval_reports_confusion_matrix() -> None:
    learner = AudiovisualEmotionLearner(num_class=4, n_workers=0, batch_size=3, image_size=SIZE)
    data = _dataset(8)
    result = learner.eval(data, silent=True)
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == 8 and (cm.sum(1) == 2).all()
    assert result["acc"] == pytest.approx(np.trace(cm) / 8)
    assert set(result["per_class_acc"]) == set(learner.labels)
    noisy1 = learner.eval(data, silent=True, mode="noisyvideo")
    assert learner.eval(data, silent=True, mode="noisyvideo") == noisy1, "noisy modes are reproducible"


# ------------------------------------------------------------------ download over real HTTP
@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_opendr_layout(http_root: tuple[Path, str], trained_dir: Path, tmp_path: Path) -> None:
    www, url = http_root
    src = AudiovisualEmotionLearner()
    src.load(str(trained_dir))
    torch.save(src.model.state_dict(), www / "av_emotion_ia_zerodrop.pt")
    (www / "av_emotion_ia_zerodrop.json").write_text(
        json.dumps({"model_paths": ["av_emotion_ia_zerodrop.pt"]})
    )
    good = {"model_weights.pt": _sha(www / "av_emotion_ia_zerodrop.pt")}

    dst = AudiovisualEmotionLearner()
    with pytest.warns(UserWarning, match=r"zerodrop.json not verified"):
        out = dst.download(str(tmp_path / "dl"), url=url, sha256=good, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "model_weights.pt"]
    dst.load(str(out))

    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        dst.download(str(tmp_path / "bad"), url=url, sha256={"model_weights.pt": "0" * 64}, progress=False)
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging dirs cleaned up"

    with pytest.raises(DownloadError, match="404"):
        dst.download(str(tmp_path / "missing"), url=url, model_name="nope", progress=False)


def test_download_own_layout_checks_recorded_hash(
    http_root: tuple[Path, str], trained_dir: Path, tmp_path: Path
) -> None:
    www, url = http_root
    for f in trained_dir.iterdir():
        shutil.copy(f, www / f.name)
    learner = AudiovisualEmotionLearner()
    learner.load(str(learner.download(str(tmp_path / "ok"), url=url, model_name=None, progress=False)))

    tensors = {k: v.contiguous().clone() for k, v in learner.model.state_dict().items()}
    tensors[next(iter(tensors))].add_(1)  # a swapped weights file no longer matches metadata's hash
    save_file(tensors, str(www / "model.safetensors"))
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        learner.download(str(tmp_path / "tampered"), url=url, model_name=None, progress=False)
    assert not (tmp_path / "tampered" / "model.safetensors").exists()


def test_saved_files_get_normal_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (mode 0600); the result must be readable like open()'s."""
    out = AudiovisualEmotionLearner().save(str(tmp_path / "m"))
    (tmp_path / "plain").write_text("x")
    expected = (tmp_path / "plain").stat().st_mode & 0o777
    assert {(p.stat().st_mode & 0o777) for p in out.iterdir()} == {expected}


def test_from_model_dir_matches_the_metadata(trained_dir: Path, tmp_path: Path) -> None:
    lt = AudiovisualEmotionLearner(fusion="lt", num_class=5, labels=list("abcde"))
    other = lt.save(str(tmp_path / "lt"))
    learner = AudiovisualEmotionLearner.from_model_dir(other)
    assert (learner.fusion, learner.num_class, learner.labels) == ("lt", 5, list("abcde"))
    with pytest.raises(ModelFileError, match="fusion='ia'"):
        AudiovisualEmotionLearner.from_model_dir(trained_dir, fusion="it")


# ------------------------------------------------------------------ crop size comes from the model
def test_eval_and_fit_refuse_crops_of_another_size(tmp_path: Path) -> None:
    """At another crop size the model still runs (global pooling) and answers at chance: an error."""
    from torch.utils.data import ConcatDataset

    from avemotion_core.data.dataset import AudiovisualEmotionDataset, Sample

    learner = AudiovisualEmotionLearner(num_class=4, n_workers=0, image_size=SIZE)
    audio, _ = _inputs(4)
    bigger = TensorDataset(audio, torch.rand(4, 3, 15, 96, 96), torch.arange(4))
    with pytest.raises(ValueError, match=f"96x96 px frames but this model takes {SIZE} px"):
        learner.eval(bigger, silent=True)
    with pytest.raises(ValueError, match="96x96 px frames"):
        learner.fit(bigger, logging_path=str(tmp_path), silent=True)
    # a feature cache declares its crop size: refused before a single file is read
    sample = Sample("01-01-01-01-01-01", tmp_path / "v.mp4", None, 0, 1)
    cached = AudiovisualEmotionDataset([sample], [tmp_path / "missing.npz"], image_size=224)
    for data in (cached, ConcatDataset([cached])):
        with pytest.raises(ValueError, match=f"224 px face crops but this model takes {SIZE} px"):
            learner.eval(data, silent=True)
    with pytest.raises(ValueError, match="target_im_size=64"):
        learner.fit(_dataset(4), cached, logging_path=str(tmp_path), silent=True)


# ------------------------------------------------------------------ OpenDR drop-in
class Timeseries:
    """The shape of OpenDR's ``engine.data.Timeseries`` / ``Video`` as the learner sees them: the
    array in ``.data`` (OpenDR's engine package is not installable here)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data


Video = Timeseries


def test_opendr_save_load_test_passes_as_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """OpenDR's own ``test_save_load`` (its random learner, 224 px inputs), calls unchanged."""
    learner = AudiovisualEmotionLearner(num_class=5, iters=1, batch_size=2, fusion="lt", mod_drop="noisedrop")
    learner.save(str(tmp_path), verbose=False)
    new_learner = AudiovisualEmotionLearner(num_class=learner.num_class, fusion=learner.fusion,
                                            mod_drop=learner.mod_drop)
    new_learner.load(str(tmp_path), verbose=False)
    assert capsys.readouterr().out == ""
    rng = np.random.default_rng(0)
    xa = Timeseries(np.float32(rng.random((10, 156))))
    xv = Video(np.float32(rng.random((3, 15, 224, 224))))
    old_pred = learner.infer(xa, xv).confidence
    new_pred = new_learner.infer(xa, xv).confidence
    assert old_pred == new_pred
    # the wrapped arrays give what the bare arrays and tensors give
    assert learner.infer(xa.data, xv.data).confidence == old_pred
    assert learner.infer(torch.from_numpy(xa.data), torch.from_numpy(xv.data)).confidence == old_pred
    learner.save(str(tmp_path / "v"))
    new_learner.load(str(tmp_path / "v"))
    out = capsys.readouterr().out
    assert f"model saved to {tmp_path / 'v'}" in out and f"model loaded from {tmp_path / 'v'}" in out


def test_pred_to_label() -> None:
    learner = AudiovisualEmotionLearner(n_workers=0, image_size=SIZE)
    audio, video = _inputs(1)
    pred = learner.infer(audio[0], video[0])
    assert learner.pred_to_label(pred) == pred.description
    assert learner.pred_to_label(Timeseries(2)) == "happy"  # OpenDR's Category keeps the index in .data
    assert learner.pred_to_label(7) == "surprised" and learner.pred_to_label(torch.tensor(3)) == "sad"
    assert AudiovisualEmotionLearner(num_class=3, labels=["a", "b", "c"]).pred_to_label(1) == "b"
    with pytest.raises(ValueError, match="outside 0..7"):
        learner.pred_to_label(8)


def test_optimize_runs_the_frozen_export_and_reset_restores(tmp_path: Path) -> None:
    learner = AudiovisualEmotionLearner(n_workers=0, image_size=SIZE, seed=4)
    audio, video = _inputs(2, seed=9)
    eager = learner.infer(audio, video)
    out = learner.optimize(str(tmp_path / "ts"))
    assert learner.exported
    for a, b in zip(learner.infer(audio, video), eager, strict=True):
        assert a.description == b.description and a.confidence == pytest.approx(b.confidence, abs=1e-5)
    with pytest.raises(RuntimeError, match="TorchScript export"):
        learner.save(str(tmp_path / "no"))
    # the graph went through an export directory that the node and `avemotion infer` load too
    loaded = AudiovisualEmotionLearner.from_model_dir(out)
    assert loaded.exported and loaded.image_size == SIZE
    assert loaded.infer(audio, video)[0].confidence == pytest.approx(eager[0].confidence, abs=1e-5)
    learner.reset()
    assert not learner.exported
    assert [c.confidence for c in learner.infer(audio, video)] == [c.confidence for c in eager]
    learner.reset()  # nothing left to undo
    assert not learner.exported
