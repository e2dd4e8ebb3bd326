"""``AudiovisualEmotionLearner``: OpenDR's learner API around the paper's ``MultiModalCNN``.

Constructor arguments, method names and defaults follow OpenDR's documentation so code written
for OpenDR ports by changing an import. Differences are deliberate and documented: the fusion
type and labels are stored with the weights (OpenDR drops them), weights are safetensors, every
file write is atomic, and ``fit`` runs unchanged under ``torchrun`` (DDP).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from avemotion_core.category import Category
from avemotion_core.fileio import ModelFileError
from avemotion_core.labels import (
    EMOTIONS,
    IMAGE_SIZE,
    MFCC_FRAMES,
    N_MFCC,
    SAMPLE_RATE,
    SEQ_LENGTH,
    WINDOW_SECONDS,
)
from avemotion_core.model import MultiModalCNN, apply_eval_mode
from avemotion_core.model.download import OPENDR_MODEL, download_model, fusion_of
from avemotion_core.model.files import (
    METADATA,
    is_torchscript_dir,
    load_model_dir,
    load_torchscript_dir,
    read_metadata,
    save_model_dir,
)
from avemotion_core.model.onnx_frames import OnnxFrameEncoder
from avemotion_core.modes import DROPOUT_MODES, EVAL_MODES, FRAME_RUNTIMES, FUSIONS
from avemotion_core.train import loop as train_loop
from avemotion_core.train.batches import check_crop_size
from avemotion_core.train.evaluate import evaluate
from avemotion_core.train.memory import limit_heap_growth


def _choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(valid)}")
    return value


def _array_of(x: Any) -> Any:
    """The array inside OpenDR's engine containers (``Timeseries``, ``Video`` keep it in ``.data``).

    Tensors and ndarrays are returned as they are: both have a ``.data`` attribute of their own
    (a tensor's is itself, an ndarray's is a raw memory buffer).
    """
    if isinstance(x, torch.Tensor | np.ndarray) or not hasattr(x, "data"):
        return x
    return x.data


class AudiovisualEmotionLearner:
    """Train, evaluate, run and store the audiovisual emotion model (arXiv 2201.11095)."""

    def __init__(
        self,
        num_class: int = 8,
        seq_length: int = 15,
        fusion: str = "ia",
        mod_drop: str = "zerodrop",
        pretr_ef: str | None = None,
        lr: float = 0.04,
        lr_steps: Sequence[int] = (40, 55, 65, 70, 200, 250),
        momentum: float = 0.9,
        dampening: float = 0.9,
        weight_decay: float = 1e-3,
        iters: int = 100,
        batch_size: int = 8,
        n_workers: int = 4,
        checkpoint_after_iter: int = 0,
        checkpoint_load_iter: int = 0,
        temp_path: str = "temp",
        device: str = "cpu",
        labels: Sequence[str] | None = None,
        amp: bool | None = None,
        seed: int = 0,
        image_size: int = IMAGE_SIZE,
        checkpoint_frames: bool | None = None,
    ) -> None:
        if num_class < 2:
            raise ValueError(f"num_class must be >= 2, got {num_class}")
        self.num_class = num_class
        self.seq_length = seq_length
        self.fusion = _choice("fusion", fusion, FUSIONS)
        self.mod_drop = _choice("mod_drop", mod_drop, DROPOUT_MODES)
        self.pretr_ef = pretr_ef
        self.lr = lr
        self.lr_steps = list(lr_steps)
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.iters = iters
        self.batch_size = batch_size
        self.n_workers = n_workers
        self.checkpoint_after_iter = checkpoint_after_iter
        self.checkpoint_load_iter = checkpoint_load_iter
        self.temp_path = temp_path
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' was requested but CUDA is not available on this machine")
        # bf16 autocast on CUDA: ~2x faster on tensor cores, needs no loss scaler.
        self.amp = (self.device.type == "cuda") if amp is None else amp
        self.seed = seed
        # The face-crop side the model was trained on; saved with the weights so the data path
        # (node, replay, infer CLI) crops at the same size.
        self.image_size = image_size
        # The detector that cut the training crops (faces.FACE_DETECTORS), saved for the same reason;
        # None = not recorded, and users fall back to their own default.
        self.face_detector: str | None = None
        self.labels = self._check_labels(labels)
        torch.manual_seed(seed)
        # channels_last: the per-frame 2-D backbone (~95% of the work) runs ~1.5x faster on CPU in
        # NHWC (bench/model_forward.py, "im+cl"); the model converts its frame batch to match.
        self.model = MultiModalCNN(
            num_classes=num_class, fusion=fusion, seq_length=seq_length, pretr_ef=pretr_ef
        ).to(self.device, memory_format=torch.channels_last)
        # Activation checkpointing of the per-frame backbone in training (model/frame_checkpoint.py):
        # same gradients, a fraction of the memory, ~1/3 more compute. On by default on CPU, where a
        # 224 px batch of 8 otherwise needs more RAM than most machines have; off on CUDA for speed.
        on_cpu = self.device.type == "cpu"
        self.checkpoint_frames = on_cpu if checkpoint_frames is None else bool(checkpoint_frames)
        self.model.checkpoint_frames = self.checkpoint_frames
        # The Python model while ``optimize()`` has swapped in a frozen graph; ``reset()`` restores it.
        self._eager_model: torch.nn.Module | None = None
        # onnxruntime's copy of the frame encoder when ``optimize(frame_runtime="onnxruntime")`` made one
        self._frame_encoder: OnnxFrameEncoder | None = None

    def _check_labels(self, labels: Sequence[str] | None) -> list[str]:
        if labels is None:
            return (
                list(EMOTIONS)
                if self.num_class == len(EMOTIONS)
                else [f"class_{i}" for i in range(self.num_class)]
            )
        if len(labels) != self.num_class:
            raise ValueError(f"{len(labels)} labels given for num_class={self.num_class}")
        return [str(x) for x in labels]

    @property
    def exported(self) -> bool:
        """True when the model is a TorchScript export: it infers, but has no weights to train or save."""
        return isinstance(self.model, torch.jit.ScriptModule)

    @property
    def frame_runtime(self) -> str:
        """What ``encode_frames`` runs: ``onnxruntime``, ``torchscript`` (a frozen graph) or ``eager``."""
        if self._frame_encoder is not None:
            return "onnxruntime"
        return "torchscript" if self.exported else "eager"

    def _require_trainable(self, action: str) -> None:
        if self.exported:
            raise RuntimeError(f"cannot {action}: this learner runs a TorchScript export (inference only); "
                               "use the source model directory that `avemotion export` was made from")

    # ------------------------------------------------------------------ training
    def fit(
        self,
        dataset: Dataset,
        val_dataset: Dataset | None = None,
        logging_path: str = "logs/",
        silent: bool = False,
        verbose: bool = True,
        eval_mode: str = "audiovisual",
        restore_best: bool = False,
    ) -> dict[str, list[float]]:
        """Train with SGD + step decay and modality dropout; return per-epoch curves.

        Writes TensorBoard logs and checkpoints (``last.pt``, ``best.pt`` on validation accuracy
        measured in ``eval_mode``, and ``epoch_NNNN.pt`` every ``checkpoint_after_iter`` epochs)
        under ``logging_path``. With ``checkpoint_load_iter=N`` training resumes from
        ``epoch_NNNN.pt``. Under ``torchrun`` the model is wrapped in DDP and only rank 0 logs,
        validates and writes files.
        """
        _choice("eval_mode", eval_mode, EVAL_MODES)
        self._require_trainable("fit")
        if len(dataset) == 0:
            raise ValueError("training dataset is empty")
        check_crop_size(dataset, self.image_size, "the training dataset")
        if val_dataset is not None:
            check_crop_size(val_dataset, self.image_size, "the validation dataset")
        report = (lambda line: print(line, flush=True)) if verbose and not silent else None
        if self.device.type == "cpu":  # keep the RSS peak near the live activations (train/memory.py)
            limit_heap_growth()
        return train_loop.fit(self, dataset, val_dataset, Path(logging_path), eval_mode=eval_mode,
                              quiet=silent, report=report, restore_best=restore_best)

    def autocast(self) -> AbstractContextManager[Any]:
        """The one place that decides mixed precision, for fit, eval and infer alike: bf16 autocast
        when ``amp`` (default: on CUDA), never around a frozen graph, whose dtypes were fixed when
        it was traced."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp and not self.exported)

    # ---------------------------------------------------------------- evaluation
    def eval(
        self, dataset: Dataset, silent: bool = False, verbose: bool = True, mode: str = "audiovisual"
    ) -> dict[str, Any]:
        """Cross-entropy and accuracy in ``mode``, plus per-class accuracy and the confusion matrix.

        ``confusion_matrix[i][j]`` counts samples of true class ``i`` predicted as ``j``. The
        dataset's face crops must have the model's size (``image_size``); another size is a
        ValueError, not a resize.
        """
        _choice("mode", mode, EVAL_MODES)
        if len(dataset) == 0:
            raise ValueError("evaluation dataset is empty")
        check_crop_size(dataset, self.image_size, "the evaluation dataset")
        loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=self.n_workers)
        result = evaluate(self.model, loader, self.labels, mode, image_size=self.image_size,
                          device=self.device, seed=self.seed, autocast=self.autocast, silent=silent)
        if verbose and not silent:
            print(f"eval ({mode}): loss {result['cross_entropy']:.4f} acc {result['acc']:.4f}", flush=True)
        return result

    # ----------------------------------------------------------------- inference
    def infer(
        self,
        audio: torch.Tensor | np.ndarray | Any,
        video: torch.Tensor | np.ndarray | Any,
        mode: str = "audiovisual",
    ) -> Category | list[Category]:
        """Classify one window (MFCC ``(10,156)``, video ``(3,15,H,W)``) or a batch of them.

        Inputs are tensors, arrays, or OpenDR's ``Timeseries`` / ``Video`` (any object holding the
        array in ``.data``), so OpenDR code that wraps its inputs runs unchanged. Video may be float
        in [0, 1] or uint8. ``mode`` lets a caller that lost a modality (a stale camera, a muted
        microphone) ask for the matching eval mode instead of feeding garbage; the mode is recorded
        in each returned Category.
        """
        _choice("mode", mode, EVAL_MODES)
        a = torch.as_tensor(_array_of(audio))
        v = torch.as_tensor(_array_of(video))
        single = a.dim() == 2
        if single:
            a, v = a.unsqueeze(0), v.unsqueeze(0)
        if a.dim() != 3 or v.dim() != 5:
            raise ValueError(
                "expected audio (10,156) + video (3,15,H,W), or batches of them; "
                f"got {tuple(a.shape)} and {tuple(v.shape)}"
            )
        if a.shape[0] != v.shape[0]:
            raise ValueError(f"audio batch {a.shape[0]} != video batch {v.shape[0]}")
        if not torch.isfinite(a.float()).all() or (v.is_floating_point() and not torch.isfinite(v).all()):
            raise ValueError("inputs contain NaN or inf")
        a = a.to(self.device, dtype=torch.float32)
        v = v.to(self.device)
        v = v.float().div_(255) if v.dtype == torch.uint8 else v.float()
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            a, v = apply_eval_mode(a, v, mode)
            logits = self.model(a, v)
        results = self._categories(logits, mode)
        return results[0] if single else results

    def encode_frames(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Backbone features ``(N, 1024)`` of RGB uint8 face crops ``(N, S, S, 3)``, each frame on its own.

        This is the part of the model worth caching: a stream encodes each frame once and every
        window containing it reuses the features (``avemotion_core.stream``). After
        ``optimize(frame_runtime="onnxruntime")`` onnxruntime computes them, on the CPU.
        """
        x = torch.as_tensor(crops)
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[3] != 3:
            raise ValueError(f"crops must be uint8 (N, S, S, 3), got {x.dtype} {tuple(x.shape)}")
        if self._frame_encoder is not None:
            return self._frame_encoder(x.numpy())
        frames = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            return self.model.forward_frames(frames).float()

    def infer_features(self, audio: torch.Tensor | np.ndarray, features: torch.Tensor,
                       mode: str = "audiovisual") -> list[Category]:
        """Classify the windows of several people that share one microphone: one MFCC ``(10, 156)``
        and each person's ``encode_frames`` features ``(B, seq_length, 1024)``, in one batch of the
        window head. Equals ``infer`` on the crops the features came from; the caller applies
        ``mode`` to the inputs (zero MFCC, blank-frame features)."""
        _choice("mode", mode, EVAL_MODES)
        a = torch.as_tensor(audio).to(self.device, dtype=torch.float32)
        if (tuple(a.shape) != (N_MFCC, MFCC_FRAMES) or features.dim() != 3
                or features.shape[1] != self.seq_length):
            raise ValueError(f"expected MFCC ({N_MFCC}, {MFCC_FRAMES}) and features "
                             f"(B, {self.seq_length}, D), got {tuple(a.shape)} and {tuple(features.shape)}")
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            logits = self.model.forward_head(a.expand(len(features), -1, -1), features.to(self.device))
        return self._categories(logits, mode)

    def _categories(self, logits: torch.Tensor, mode: str) -> list[Category]:
        probs = torch.softmax(logits.float(), dim=1).cpu()
        results = []
        for row in probs:
            idx = int(row.argmax())
            results.append(
                Category(
                    data=idx,
                    description=self.labels[idx],
                    confidence=float(row[idx]),
                    scores={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                    mode=mode,
                )
            )
        return results

    def load_inference_data(
        self,
        audio_path: str | os.PathLike[str] | None,
        video_path: str | os.PathLike[str] | None,
        target_time: float = WINDOW_SECONDS,
        sr: int = SAMPLE_RATE,
        input_fps: float | None = 30,
        save_frames: int | None = None,
        target_im_size: int | None = None,
        *,
        split: bool = False,
        mode: str = "audiovisual",
        image_size: int | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Read a clip into ``infer``'s inputs (see ``avemotion_core.data.inference_data``).

        The positional parameters are OpenDR's. The crop size, frame count and audio geometry
        come from this model: ``target_im_size`` (or ``image_size``), ``save_frames``,
        ``target_time`` and ``sr`` may be given but must equal the model's, because the model
        still runs on other values and then answers with confident nonsense. ``input_fps`` is the
        frame rate the caller expects; frames are always picked by the file's real rate and a
        difference is warned about. ``mode='onlyvideo'`` reads no audio (that mode ignores it),
        so a silent video works. Other keywords (``split``, ``cropper``, ``min_last_seconds``)
        go to ``inference_data.load_inference_data``.
        """
        from avemotion_core.data.inference_data import load_inference_data

        _choice("mode", mode, EVAL_MODES)
        if target_im_size is not None and image_size is not None and target_im_size != image_size:
            raise ValueError(f"target_im_size={target_im_size} and image_size={image_size} disagree")
        size = target_im_size if target_im_size is not None else image_size
        if size is not None and size != self.image_size:
            raise ValueError(f"target_im_size={size}, but this model takes {self.image_size} px face crops "
                             "(learner.image_size); leave it unset to use the model's")
        if save_frames is not None and save_frames != self.seq_length:
            raise ValueError(f"save_frames={save_frames}, but this model takes {self.seq_length} frames")
        if abs(target_time - WINDOW_SECONDS) > 1e-9 or sr != SAMPLE_RATE:
            raise ValueError(f"target_time={target_time}, sr={sr}: the model's input geometry (MFCC "
                             f"{N_MFCC}x{MFCC_FRAMES}) is fixed at {WINDOW_SECONDS} s and {SAMPLE_RATE} Hz")
        return load_inference_data(
            audio_path, video_path, split=split, image_size=self.image_size, seq_length=self.seq_length,
            input_fps=input_fps, read_audio=mode != "onlyvideo", **kwargs,
        )

    def pred_to_label(self, prediction: Category | int | torch.Tensor | Any) -> str:
        """The label name of a prediction (a ``Category``, OpenDR's ``Category`` or a class index).

        OpenDR's version knows only RAVDESS's 8 names; this one uses the model's own labels.
        """
        raw = prediction if isinstance(prediction, int | np.integer | torch.Tensor) else _array_of(prediction)
        index = int(raw)
        if not 0 <= index < self.num_class:
            raise ValueError(f"class index {index} is outside 0..{self.num_class - 1}")
        return self.labels[index]

    # ----------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike[str], verbose: bool = True) -> Path:
        """Save ``metadata.json`` + ``model.safetensors`` into directory ``path`` (atomically).

        ``verbose`` (OpenDR's default True) prints where the files went.
        """
        self._require_trainable("save")
        root = save_model_dir(path, self._eager_state(), self._metadata())
        if verbose:
            print(f"model saved to {root} ({METADATA} + model.safetensors)", flush=True)
        return root

    def _eager_state(self) -> dict[str, torch.Tensor]:
        return {k.removeprefix("module."): v for k, v in self.model.state_dict().items()}

    def _metadata(self) -> dict[str, Any]:
        """What a model directory records besides the weights, so any loader can use it correctly."""
        return {
            "fusion": self.fusion,
            "num_class": self.num_class,
            "seq_length": self.seq_length,
            "labels": self.labels,
            "mod_drop": self.mod_drop,
            "sample_rate": SAMPLE_RATE,
            "n_mfcc": N_MFCC,
            "mfcc_frames": MFCC_FRAMES,
            "window_seconds": WINDOW_SECONDS,
            "image_size": self.image_size,
            **({"face_detector": self.face_detector} if self.face_detector else {}),
        }

    @classmethod
    def from_model_dir(
        cls, path: str | os.PathLike[str], device: str = "cpu", fusion: str | None = None, **kwargs: Any
    ) -> AudiovisualEmotionLearner:
        """A learner built to match a model directory's metadata, with its weights loaded.

        ``load`` refuses a fusion/class mismatch, so callers that only have a model path (the node,
        the CLI, benchmarks) build the learner from ``metadata.json`` first. An explicit ``fusion``
        overrides the metadata's and is then checked against the weights by ``load``.

        A directory written by ``avemotion export`` gives a learner that runs the frozen TorchScript
        graph (1.15-1.3x faster on CPU than the learner's own path, BENCHMARKS.md) for ``infer``
        and ``eval``, at the crop size the graph was traced at; ``fit``/``save``/``load`` refuse.
        """
        meta = read_metadata(path)
        learner = cls(
            num_class=int(meta.get("num_class", len(EMOTIONS))),
            seq_length=int(meta.get("seq_length", SEQ_LENGTH)),
            fusion=fusion or str(meta.get("fusion", "ia")),
            device=device,
            **kwargs,
        )
        if is_torchscript_dir(meta):  # written by `avemotion export`: the graph replaces the model
            if fusion and fusion != meta.get("fusion"):
                raise ModelFileError(f"{path} is a TorchScript export of fusion {meta.get('fusion')!r}, "
                                     f"not {fusion!r}")
            learner.model, meta = load_torchscript_dir(path, learner.device)
            if not all(hasattr(learner.model, m) for m in ("forward_frames", "forward_head")):
                raise ModelFileError(f"{path} was exported without the frame encoder + window head graphs "
                                     "the streaming engine runs; export it again with `avemotion export`")
            size = meta.get("image_size")
            if not isinstance(size, int) or size < 32:
                raise ModelFileError(f"{path}: a TorchScript export must record the 'image_size' it was "
                                     f"traced at, found {size!r}")
            learner.labels = learner._check_labels(meta.get("labels"))
            learner.image_size = size
            learner.face_detector = meta.get("face_detector")
            return learner
        learner.load(str(path), verbose=False)
        return learner

    def load(self, path: str | os.PathLike[str], verbose: bool = True) -> None:
        """Load a model directory saved by ``save`` or by OpenDR's learner.

        Raises ``ModelFileError`` when files are missing, corrupt, or were trained with a
        different fusion / number of classes than this learner is configured for. ``verbose``
        (OpenDR's default True) prints what was loaded.
        """
        self._require_trainable("load weights into it")
        state, meta = load_model_dir(path)
        for key, mine in (
            ("fusion", self.fusion),
            ("num_class", self.num_class),
            ("seq_length", self.seq_length),
        ):
            if key in meta and meta[key] != mine:
                raise ModelFileError(
                    f"model in {path} was saved with {key}={meta[key]!r} but this learner has {key}={mine!r}"
                )
        state = {k.removeprefix("module."): v for k, v in state.items()}
        missing, unexpected = self._key_diff(state)
        if missing or unexpected:
            raise ModelFileError(
                f"weights in {path} do not fit MultiModalCNN(fusion={self.fusion!r}, "
                f"num_class={self.num_class}): {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
            )
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # shape mismatches
            raise ModelFileError(f"weights in {path} have wrong shapes: {exc}") from exc
        if "labels" in meta:
            self.labels = self._check_labels(meta["labels"])
        if isinstance(meta.get("image_size"), int) and meta["image_size"] >= 32:
            self.image_size = meta["image_size"]
        if "face_detector" in meta:
            self.face_detector = meta["face_detector"]
        self.model.to(self.device).eval()
        if verbose:
            print(f"model loaded from {path} (fusion {self.fusion}, {self.num_class} classes, "
                  f"{self.image_size} px crops)", flush=True)

    def optimize(self, path: str | os.PathLike[str] | None = None, tolerance: float = 1e-4,
                 frame_runtime: str = "torchscript") -> Path | None:
        """Run a frozen TorchScript graph instead of the Python model (OpenDR only raises here).

        The graph is made exactly as ``avemotion export`` makes it (trace at ``image_size``, freeze:
        conv-BN folding, 1.15-1.3x faster on CPU per window, BENCHMARKS.md), written as an export directory to
        ``path`` (a temporary one when None), reloaded from disk and checked against the Python
        model; a graph whose logits differ by more than ``tolerance`` x max(1, largest logit) is
        refused and the Python model kept. Afterwards ``infer``/``eval`` run the graph and
        ``fit``/``save`` refuse, as for any export, until ``reset()``. Returns ``path``.

        ``frame_runtime="onnxruntime"`` (CPU only) also hands ``encode_frames`` to an onnxruntime
        session of the frame encoder (``model/onnx_frames.py``), checked the same way against the
        Python model's features on seeded crops; ImportError when onnxruntime is not installed.
        """
        from avemotion_core.model.export import allowed_difference, export_torchscript
        from avemotion_core.model.files import load_torchscript_dir

        self._require_trainable("optimize")
        _choice("frame_runtime", frame_runtime, FRAME_RUNTIMES)
        frame_encoder = self._onnx_frame_encoder(tolerance) if frame_runtime == "onnxruntime" else None
        g = torch.Generator().manual_seed(1)
        check = (
            torch.randn(2, N_MFCC, MFCC_FRAMES, generator=g).to(self.device),
            torch.rand(2, 3, self.seq_length, self.image_size, self.image_size, generator=g).to(self.device),
        )
        with torch.no_grad():
            reference = self.model.eval()(*check)
        with tempfile.TemporaryDirectory(prefix="avemotion_optimize.") as tmp:
            out = Path(path) if path is not None else Path(tmp)
            diff = export_torchscript(self, out, self.image_size, self._metadata(), check, reference)
            allowed = allowed_difference(tolerance, float(reference.abs().max()))
            if diff > allowed:
                raise RuntimeError(f"the frozen graph differs from the model by {diff:.3g} > {allowed:.3g}; "
                                   "keeping the Python model")
            graph, _ = load_torchscript_dir(out, self.device)
        self._eager_model = self.model
        self.model = graph
        self._frame_encoder = frame_encoder
        return None if path is None else Path(path)

    def _onnx_frame_encoder(self, tolerance: float) -> OnnxFrameEncoder:
        """The frame encoder in onnxruntime, refused (RuntimeError) when its features differ from the
        Python model's by more than ``tolerance`` x max(1, largest feature) on seeded crops."""
        from avemotion_core.model.export import allowed_difference

        if self.device.type != "cpu":
            raise ValueError(f"the onnxruntime frame encoder runs on the CPU, this learner on {self.device}")
        encoder = OnnxFrameEncoder(self.model.eval(), self.image_size, torch.get_num_threads())
        crops = torch.randint(0, 256, (2, self.image_size, self.image_size, 3), dtype=torch.uint8,
                              generator=torch.Generator().manual_seed(2))
        reference = self.encode_frames(crops)
        diff = float((encoder(crops.numpy()) - reference).abs().max())
        allowed = allowed_difference(tolerance, float(reference.abs().max()))
        if diff > allowed:
            raise RuntimeError(f"the onnxruntime frame encoder differs from the model by {diff:.3g} > "
                               f"{allowed:.3g}")
        return encoder

    def reset(self) -> None:
        """Undo ``optimize()``: back to the trainable Python model with the same weights.

        The model keeps no state between windows (no recurrence), so that is all there is to
        reset; on a learner that was never optimized this does nothing.
        """
        if self._eager_model is not None:
            self.model, self._eager_model = self._eager_model, None
        self._frame_encoder = None

    def _key_diff(self, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        own = set(self.model.state_dict())
        return sorted(own - set(state)), sorted(set(state) - own)

    def download(
        self,
        path: str | None = None,
        url: str | None = None,
        model_name: str | None = OPENDR_MODEL,
        sha256: dict[str, str] | None = None,
        progress: bool = True,
    ) -> Path:
        """Fetch a pretrained model directory to ``path`` (default ``temp_path``) and return it.

        With ``model_name`` (default: OpenDR's ``av_emotion_ia_zerodrop``) the OpenDR layout is
        fetched: ``<url>/<model_name>.json`` and ``.pt`` (``url`` default: OpenDR's server, or
        ``$AVEMOTION_OPENDR_URL``), and ``metadata.json`` is completed with how those weights were
        trained (fusion, labels, 224 px MTCNN crops) so every loader uses them right. With
        ``model_name=None`` ``url`` must be a directory in our format: ``metadata.json`` first,
        then the weights it lists, checked against the SHA-256 recorded in that metadata.
        ``sha256`` maps local file names (``metadata.json``, ``model_weights.pt`` ...) to expected
        digests. Files appear only after their hash matched; nothing partial is left behind.
        """
        # a name that does not state its fusion (av_emotion_<fusion>_...) is taken to be this learner's
        own = self.fusion if model_name is not None and fusion_of(model_name) is None else None
        return download_model(path or self.temp_path, url, model_name, sha256, progress, fusion=own)[0]
