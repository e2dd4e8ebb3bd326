"""MultiModalCNN: shapes, parameter counts, input validation, fusion/dropout/eval modes, export paths."""

import warnings

import pytest
import torch

from avemotion_core.model import (
    DROPOUT_MODES,
    EVAL_MODES,
    FUSIONS,
    MultiModalCNN,
    apply_eval_mode,
    modality_dropout,
)
from avemotion_core.model.efficientface import FRAME_MODULES

SIZE = 32  # smallest size the 2-D backbone supports; keeps every test fast on two cores
PARAMS = {"ia": 1_854_766, "it": 1_938_414, "lt": 2_045_550}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """These tiny workloads gain nothing from intra-op threads, and OpenMP spin-waiting makes them
    many times slower when the cores are shared (parallel CI jobs, other processes)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_inputs(batch: int = 2, size: int = SIZE, frames: int = 15, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 10, 156, generator=gen), torch.rand(batch, 3, frames, size, size, generator=gen)


@pytest.fixture(scope="module", params=FUSIONS)
def model(request):
    torch.manual_seed(0)
    return MultiModalCNN(fusion=request.param)


def test_parameter_counts_match_opendr(model):
    assert sum(p.numel() for p in model.parameters()) == PARAMS[model.fusion]
    backbone_2d = sum(
        p.numel() for n, p in model.visual_model.named_parameters() if n.split(".")[0] in FRAME_MODULES
    )
    assert backbone_2d == 1_268_118
    temporal = sum(p.numel() for n, p in model.visual_model.named_parameters() if n.startswith("conv1d_"))
    assert temporal == 283_776
    assert sum(p.numel() for p in model.audio_model.parameters()) == 225_864


@pytest.mark.parametrize("mode", DROPOUT_MODES)
def test_training_step_reaches_both_branches(model, mode):
    """One SGD step per dropout mode: logits per (expanded) item, gradients in audio, video and fusion."""
    audio, video = make_inputs()
    target = torch.tensor([3, 5])
    audio, video, target = modality_dropout(audio, video, target, mode, torch.Generator().manual_seed(1))
    model.train()
    model.zero_grad()
    logits = model(audio, video)
    assert logits.shape == (len(target), 8)
    torch.nn.functional.cross_entropy(logits, target).backward()
    for part in ("audio_model", "visual_model.conv1", "visual_model.conv1d_0", "av", "va", "classifier"):
        grads = [p.grad for p in model.get_submodule(part).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part


@pytest.mark.parametrize("mode", EVAL_MODES)
def test_eval_modes_give_logits(model, mode):
    audio, video = make_inputs()
    model.eval()
    with torch.inference_mode():
        logits = model(*apply_eval_mode(audio, video, mode, torch.Generator().manual_seed(2)))
    assert logits.shape == (2, 8) and torch.isfinite(logits).all()


def test_items_are_independent_in_eval(model):
    """Clip-major frame reshaping: an item's logits do not depend on its batch neighbours."""
    audio, video = make_inputs(batch=3)
    model.eval()
    with torch.inference_mode():
        together = model(audio, video)
        alone = model(audio[1:2], video[1:2])
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(together[0], together[1])


def test_channels_last_and_trace_match_eager(model):
    if model.fusion == "ia":  # the stronger check: test_opendr_parity.test_fast_paths_match_opendr
        pytest.skip("ia's channels_last and frozen-trace paths are checked against OpenDR's logits")
    audio, video = make_inputs()
    model.eval()
    with torch.inference_mode():
        reference = model(audio, video)
    fast = MultiModalCNN(fusion=model.fusion)
    fast.load_state_dict(model.state_dict())
    fast.eval().to(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.testing.assert_close(fast(audio, video), reference, atol=1e-5, rtol=1e-4)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace/freeze deprecation notices
        traced = torch.jit.freeze(torch.jit.trace(model, (audio, video), check_trace=False))
        torch.testing.assert_close(traced(audio, video), reference, atol=1e-5, rtol=1e-4)
        audio3, video3 = make_inputs(batch=3, seed=4)
        torch.testing.assert_close(traced(audio3, video3), model(audio3, video3), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("size", [32, 96, 128])
def test_other_image_sizes(size):
    model = MultiModalCNN(fusion="ia").eval()
    with torch.inference_mode():
        assert model(*make_inputs(batch=1, size=size)).shape == (1, 8)


def test_other_sequence_length_and_classes():
    model = MultiModalCNN(num_classes=5, fusion="it", seq_length=6).eval()
    with torch.inference_mode():
        assert model(*make_inputs(frames=6)).shape == (2, 5)


@pytest.mark.parametrize(
    ("audio_shape", "video_shape", "match"),
    [
        ((2, 10, 150), (2, 3, 15, 64, 64), "audio must be MFCCs"),
        ((2, 13, 156), (2, 3, 15, 64, 64), "audio must be MFCCs"),
        ((10, 156), (2, 3, 15, 64, 64), "audio must be MFCCs"),
        ((2, 10, 156), (2, 3, 14, 64, 64), "15 frames"),
        ((2, 10, 156), (2, 1, 15, 64, 64), "RGB"),
        ((2, 10, 156), (2, 15, 3, 64, 64), "RGB"),
        ((2, 10, 156), (3, 15, 64, 64), "video must have shape"),
        ((2, 10, 156), (2, 3, 15, 100, 100), "multiple of 32"),
        ((2, 10, 156), (2, 3, 15, 64, 96), "square"),
        ((3, 10, 156), (2, 3, 15, 64, 64), "same non-zero number"),
        ((0, 10, 156), (0, 3, 15, 64, 64), "same non-zero number"),
    ],
)
def test_bad_input_shapes_raise(audio_shape, video_shape, match):
    model = MultiModalCNN(fusion="ia").eval()
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(audio_shape), torch.zeros(video_shape))


def test_bad_input_types_raise():
    model = MultiModalCNN().eval()
    audio, video = make_inputs()
    with pytest.raises(TypeError, match="floating-point"):
        model(audio, (video * 255).to(torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(audio.numpy(), video)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fusion": "early"}, "valid choices: ia, it, lt"),
        ({"seq_length": 0}, "seq_length"),
        ({"seq_length": 15.0}, "seq_length"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiModalCNN(**kwargs)


def distinct_batch(batch: int = 4):
    """Items whose audio/video are constant per item (item i -> i + 1), so copies can be recognised."""
    scale = torch.arange(1, batch + 1, dtype=torch.float32)
    audio = scale.view(batch, 1, 1).expand(batch, 10, 156).clone()
    video = (scale / 10).view(batch, 1, 1, 1, 1).expand(batch, 3, 15, 8, 8).clone()
    return audio, video, torch.arange(batch)


def is_noise(x: torch.Tensor) -> bool:
    return abs(x.std().item() - 1) < 0.1 and abs(x.mean().item()) < 0.1


def test_nodrop_returns_the_batch_unchanged():
    audio, video, target = distinct_batch()
    out = modality_dropout(audio, video, target, "nodrop")
    assert all(a is b for a, b in zip(out, (audio, video, target), strict=True))


def test_zerodrop_makes_four_shuffled_variants_per_item():
    audio, video, target = distinct_batch()
    out_audio, out_video, out_target = modality_dropout(
        audio, video, target, "zerodrop", torch.Generator().manual_seed(0)
    )
    assert out_audio.shape == (16, 10, 156) and out_video.shape == (16, 3, 15, 8, 8)
    assert out_target.tolist() != target.repeat(4).tolist()  # shuffled
    for item in range(4):
        rows = (out_target == item).nonzero().flatten()
        assert len(rows) == 4
        factors = []
        for row in rows:
            a_factor = out_audio[row] / audio[item]
            v_factor = out_video[row] / video[item]
            # Each variant scales a whole item uniformly.
            assert torch.allclose(a_factor, a_factor.flatten()[0]) and torch.allclose(
                v_factor, v_factor.flatten()[0]
            )
            factors.append((round(a_factor.flatten()[0].item(), 4), round(v_factor.flatten()[0].item(), 4)))
        for fixed in ((1.0, 1.0), (0.0, 1.0), (1.0, 0.0)):
            factors.remove(fixed)
        ((mix_audio, mix_video),) = factors
        assert mix_audio + mix_video == pytest.approx(1.0)
        assert mix_audio * 100 == pytest.approx(round(mix_audio * 100)) and 0 <= mix_audio <= 0.99


def test_noisedrop_makes_three_shuffled_variants_per_item():
    audio, video, target = distinct_batch()
    out_audio, out_video, out_target = modality_dropout(
        audio, video, target, "noisedrop", torch.Generator().manual_seed(0)
    )
    assert out_audio.shape[0] == out_video.shape[0] == 12
    for item in range(4):
        kinds = sorted(
            (
                "orig" if torch.equal(out_audio[row], audio[item]) else "noise" * is_noise(out_audio[row]),
                "orig" if torch.equal(out_video[row], video[item]) else "noise" * is_noise(out_video[row]),
            )
            for row in (out_target == item).nonzero().flatten()
        )
        assert kinds == [("noise", "orig"), ("orig", "noise"), ("orig", "orig")]


def test_dropout_is_reproducible_with_a_generator():
    audio, video, target = distinct_batch()
    first = modality_dropout(audio, video, target, "zerodrop", torch.Generator().manual_seed(7))
    second = modality_dropout(audio, video, target, "zerodrop", torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_dropout_rejects_bad_arguments():
    audio, video, target = distinct_batch()
    with pytest.raises(ValueError, match="valid choices: nodrop, noisedrop, zerodrop"):
        modality_dropout(audio, video, target, "dropout")
    with pytest.raises(ValueError, match="batch sizes differ"):
        modality_dropout(audio, video, target[:3], "zerodrop")


@pytest.mark.parametrize("mode", EVAL_MODES)
def test_eval_mode_alters_only_the_named_modality(mode):
    audio, video, _ = distinct_batch()
    out_audio, out_video = apply_eval_mode(audio, video, mode, torch.Generator().manual_seed(0))
    expected = {
        "audiovisual": ("orig", "orig"),
        "onlyaudio": ("orig", "zero"),
        "onlyvideo": ("zero", "orig"),
        "noisyaudio": ("noise", "orig"),
        "noisyvideo": ("orig", "noise"),
    }[mode]
    for out, original, kind in ((out_audio, audio, expected[0]), (out_video, video, expected[1])):
        assert out.shape == original.shape and out.dtype == original.dtype
        if kind == "orig":
            assert torch.equal(out, original)
        elif kind == "zero":
            assert not out.any()
        else:
            assert is_noise(out)


def test_eval_mode_rejects_unknown_names():
    audio, video, _ = distinct_batch()
    with pytest.raises(
        ValueError, match="valid choices: audiovisual, noisyaudio, noisyvideo, onlyaudio, onlyvideo"
    ):
        apply_eval_mode(audio, video, "mute")
