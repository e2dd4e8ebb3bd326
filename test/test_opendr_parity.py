"""An OpenDR ``ia`` state_dict loads strictly into our MultiModalCNN and reproduces OpenDR's logits."""

import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avemotion_core.model import MultiModalCNN

DATA = Path(__file__).parent / "data" / "opendr_parity"
TOLERANCE = 1e-4


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """OpenMP spin-waiting makes CPU inference many times slower when the cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def opendr():
    state = load_file(DATA / "opendr_ia_state_dict.safetensors")
    io = load_file(DATA / "opendr_ia_io.safetensors")
    # OpenDR's frame batch is clip-major (clip0 f0..f14, clip1 f0..f14); ours is (B, 3, T, H, W).
    video = (io["video_u8"].float() / 255).reshape(2, 15, 3, 224, 224).transpose(1, 2)
    return state, io["audio"], video, io["logits"]


@pytest.fixture(scope="module")
def model(opendr):
    state = opendr[0]
    net = MultiModalCNN(num_classes=8, fusion="ia", seq_length=15)
    net.load_state_dict(state, strict=True)
    return net.eval()


def test_state_dict_keys_and_shapes_match(model, opendr):
    ours = model.state_dict()
    assert set(ours) == set(opendr[0])
    assert all(ours[k].shape == v.shape for k, v in opendr[0].items())


def test_logits_match_opendr(model, opendr):
    _, audio, video, expected = opendr
    with torch.no_grad():
        logits = model(audio, video)
    assert (logits - expected).abs().max().item() <= TOLERANCE
    assert not torch.allclose(logits[0], logits[1])  # two genuinely different clips


def test_fast_paths_match_opendr(model, opendr):
    """The deployment paths (channels_last + inference_mode, frozen channels_last TorchScript) keep parity."""
    _, audio, video, expected = opendr
    fast = MultiModalCNN(fusion="ia")
    fast.load_state_dict(model.state_dict())
    fast.eval().to(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert (fast(audio, video) - expected).abs().max().item() <= TOLERANCE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace/freeze deprecation notices
        # Traced from the channels_last model at batch 1, as an exporter should; run at batch 2.
        traced = torch.jit.freeze(torch.jit.trace(fast, (audio[:1], video[:1]), check_trace=False))
        assert (traced(audio, video) - expected).abs().max().item() <= TOLERANCE


def test_wrong_fusion_does_not_load(opendr):
    """An ``ia`` checkpoint must not load silently into a transformer-fusion model."""
    with pytest.raises(RuntimeError, match="av.attn.q.weight"):
        MultiModalCNN(fusion="it").load_state_dict(opendr[0], strict=True)
