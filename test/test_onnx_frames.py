"""The stream's frame encoder in onnxruntime: same features as the Python model, no idle CPU, a
TorchScript fallback when onnxruntime is missing."""

import os
import sys
import time

import numpy as np
import pytest
import torch
from media_helpers import astronaut

from avemotion_core import AudiovisualEmotionLearner
from avemotion_core.faces import FaceCropper
from avemotion_core.labels import DEFAULT_MODEL
from avemotion_core.model.onnx_frames import OnnxFrameEncoder
from avemotion_core.stream import freeze_for_streaming

SIZE = 64  # the embedded model's crop size


@pytest.fixture(scope="module")
def face_crops() -> np.ndarray:
    """Real face crops as a stream cuts them: the astronaut, then a brighter, shifted copy of her."""
    frame = astronaut()
    shifted = np.clip(np.roll(frame, (20, -30), axis=(0, 1)).astype(int) + 40, 0, 255).astype(np.uint8)
    result = FaceCropper(size=SIZE, track=False).crop([frame, shifted])
    assert result.missing == 0
    return result.crops


def test_onnxruntime_encodes_real_faces_as_the_python_model_does(face_crops: np.ndarray) -> None:
    learner = AudiovisualEmotionLearner.from_model_dir(DEFAULT_MODEL)
    with torch.inference_mode():  # the reference: the eager model on [0, 1] floats, not encode_frames
        frames = torch.from_numpy(face_crops).permute(0, 3, 1, 2).float() / 255.0
        reference = learner.model.eval().forward_frames(frames)
    assert learner.frame_runtime == "eager"
    learner.optimize(frame_runtime="onnxruntime")
    assert learner.frame_runtime == "onnxruntime"
    features = learner.encode_frames(face_crops)
    assert features.shape == (2, 1024) and features.dtype == torch.float32
    assert float(reference.abs().max()) > 1.0  # trained weights: features far from zero
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(features[0], features[1], atol=1e-2)  # two different crops
    with pytest.raises(ValueError, match="takes 64 px crops"):
        learner.encode_frames(np.zeros((1, 32, 32, 3), np.uint8))
    learner.reset()
    assert learner.frame_runtime == "eager"


def test_the_session_runs_on_the_calling_thread_and_never_spins_idle() -> None:
    """Between two lattice frames the encoder must cost nothing: onnxruntime's default pool
    busy-waits after each run (~45 ms of CPU per 200 ms idle with 2 threads, measured). Only the
    pool's own threads are timed, so the suite's other threads cannot disturb the figure."""
    model = AudiovisualEmotionLearner.from_model_dir(DEFAULT_MODEL).model.eval()
    crops = np.zeros((3, SIZE, SIZE, 3), np.uint8)
    first = OnnxFrameEncoder(model, SIZE, threads=1)  # one-time, process-wide threads start here
    first(crops)
    before = len(os.listdir("/proc/self/task"))
    second = OnnxFrameEncoder(model, SIZE, threads=1)
    second(crops)
    tasks = os.listdir("/proc/self/task")
    assert len(tasks) == before, "one thread: no pool threads"
    encoder = OnnxFrameEncoder(model, SIZE, threads=2)
    pool = set(os.listdir("/proc/self/task")) - set(tasks)  # its worker thread(s)
    assert pool, "two threads: a pool thread"
    idle = []
    for _ in range(3):
        encoder(crops)
        start = _cpu_ticks(pool)
        time.sleep(0.2)
        idle.append(_cpu_ticks(pool) - start)
    assert min(idle) == 0, f"clock ticks the pool spent while idle: {idle}"


def _cpu_ticks(tids: set[str]) -> int:
    """User + system clock ticks of these threads of this process (``/proc/self/task/<tid>/stat``)."""
    total = 0
    for tid in tids:
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total


def test_streaming_falls_back_to_torchscript_without_onnxruntime(monkeypatch, face_crops) -> None:
    learner = AudiovisualEmotionLearner.from_model_dir(DEFAULT_MODEL)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as on a machine without the package
    note = freeze_for_streaming(learner, SIZE)
    assert note is not None and note.startswith("frames encoded by TorchScript (onnxruntime:"), note
    assert learner.frame_runtime == "torchscript"
    monkeypatch.delitem(sys.modules, "onnxruntime")
    fast = AudiovisualEmotionLearner.from_model_dir(DEFAULT_MODEL)
    assert freeze_for_streaming(fast, SIZE) is None and fast.frame_runtime == "onnxruntime"
    torch.testing.assert_close(fast.encode_frames(face_crops), learner.encode_frames(face_crops),
                               rtol=1e-4, atol=1e-4)
