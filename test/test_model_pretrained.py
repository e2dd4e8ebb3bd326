"""Loading EfficientFace (AffectNet-style ``.pth.tar``) weights into the visual 2-D backbone."""

import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avemotion_core.model import MultiModalCNN, load_efficientface
from avemotion_core.model.efficientface import FRAME_MODULES, EfficientFaceTemporal

DATA = Path(__file__).parent / "data" / "opendr_parity"


@pytest.fixture(scope="module")
def backbone_state() -> dict[str, torch.Tensor]:
    """Real trained-layout 2-D backbone tensors: the visual part of the OpenDR parity state_dict."""
    state = load_file(DATA / "opendr_ia_state_dict.safetensors")
    prefix = "visual_model."
    return {
        k.removeprefix(prefix): v
        for k, v in state.items()
        if k.startswith(prefix) and k.removeprefix(prefix).split(".")[0] in FRAME_MODULES
    }


def save_checkpoint(path: Path, backbone: dict[str, torch.Tensor], **extra) -> Path:
    """Write a file shaped like EfficientFace's released checkpoints (DataParallel keys + AffectNet head)."""
    state = {f"module.{k}": v for k, v in backbone.items()}
    state["module.fc.weight"] = torch.randn(7, 1024)
    state["module.fc.bias"] = torch.zeros(7)
    torch.save({"epoch": 12, "state_dict": state, "best_acc": torch.tensor(63.1), **extra}, path)
    return path


def test_checkpoint_fills_the_2d_backbone_only(tmp_path, backbone_state):
    path = save_checkpoint(tmp_path / "EfficientFace_Trained_on_AffectNet7.pth.tar", backbone_state)
    torch.manual_seed(0)
    model = MultiModalCNN(fusion="ia", pretr_ef=path)
    loaded = model.visual_model.state_dict()
    for key, value in backbone_state.items():
        assert torch.equal(loaded[key], value), key
    torch.manual_seed(0)
    untouched = MultiModalCNN(fusion="ia").state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith("visual_model.") or key.split(".")[1] not in FRAME_MODULES:
            assert torch.equal(value, untouched[key]), key  # temporal layers, audio, fusion, heads


def test_plain_state_dict_without_prefix_is_accepted(tmp_path, backbone_state):
    path = tmp_path / "plain.pt"
    torch.save(backbone_state, path)
    backbone = EfficientFaceTemporal()
    load_efficientface(backbone, path)
    assert torch.equal(backbone.conv5[0].weight, backbone_state["conv5.0.weight"])


def assert_unchanged(backbone: EfficientFaceTemporal, before: dict[str, torch.Tensor]) -> None:
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.pop("stage3.5.branch2.3.weight"), r"missing: stage3\.5\.branch2\.3\.weight"),
        (lambda s: s.update({"layer9.weight": torch.zeros(3)}), r"unexpected: layer9\.weight"),
        (
            lambda s: s.update({"conv1.0.weight": torch.zeros(32, 3, 3, 3)}),
            r"shape mismatch: conv1\.0\.weight \(32, 3, 3, 3\) vs \(29, 3, 3, 3\)",
        ),
    ],
)
def test_mismatched_checkpoint_is_rejected_by_name(tmp_path, backbone_state, edit, match):
    state = dict(backbone_state)
    edit(state)
    path = save_checkpoint(tmp_path / "bad.pth.tar", state)
    backbone = EfficientFaceTemporal()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        load_efficientface(backbone, path)
    assert_unchanged(backbone, before)


def test_other_network_checkpoint_lists_many_problems(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"module.layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}}, path)
    with pytest.raises(ValueError, match=r"missing: .*\(\+\d+ more\); unexpected: layer1\.0\.conv1\.weight"):
        load_efficientface(EfficientFaceTemporal(), path)


def test_corrupt_and_non_checkpoint_files_are_rejected(tmp_path, backbone_state):
    garbage = tmp_path / "garbage.pth.tar"
    garbage.write_bytes(b"definitely not a checkpoint\x00\x01" * 100)
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_efficientface(EfficientFaceTemporal(), garbage)

    good = save_checkpoint(tmp_path / "good.pth.tar", backbone_state)
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_efficientface(EfficientFaceTemporal(), truncated)

    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    with pytest.raises(ValueError, match="holds no EfficientFace state_dict"):
        load_efficientface(EfficientFaceTemporal(), listing)

    with pytest.raises(FileNotFoundError, match="not found"):
        load_efficientface(EfficientFaceTemporal(), tmp_path / "absent.pth.tar")


def test_pickled_code_is_refused(tmp_path):
    """weights_only loading: a checkpoint that would run code on load is rejected, not executed."""
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {"conv1.0.weight": torch.zeros(1)}, "hook": zipfile.ZipFile}, path)
    with pytest.raises(ValueError, match=r"not a readable PyTorch checkpoint .*re-save only .*state_dict"):
        load_efficientface(EfficientFaceTemporal(), path)
