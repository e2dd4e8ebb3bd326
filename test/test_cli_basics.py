"""``avemotion`` command line: help, usage errors and bad inputs give clean messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import assert_clean_error, run_cli

from avemotion_core.cli import build_parser, main
from avemotion_core.cli.common import apply_config
from avemotion_core.learner import AudiovisualEmotionLearner

SUBCOMMANDS = ("generate", "preprocess", "train", "eval", "infer", "export", "bag-from-clip", "replay",
               "download", "fetch-ravdess")


def test_help_lists_every_subcommand_and_each_has_help():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name in SUBCOMMANDS:
        assert name in proc.stdout
    _, parsers = build_parser()
    assert sorted(parsers) == sorted(SUBCOMMANDS)
    for name, parser in parsers.items():
        assert parser.format_help().startswith(f"usage: avemotion {name}")


def test_usage_errors_exit_2(tmp_path, capsys):
    assert_clean_error(run_cli(), 2, "COMMAND")
    assert_clean_error(run_cli("train", "--epochs", "0", str(tmp_path)), 2, "--epochs")
    # argument checks done by the subcommands themselves (in-process: no need for another interpreter)
    cases = [
        (["infer", str(tmp_path / "missing.mp4")], "input not found"),
        (["infer"], "nothing to classify"),
        (["infer", "--audio", str(tmp_path)], "audio file not found"),
        (["infer", "--audio", str(tmp_path / "a.wav"), "clip.mp4"], "classifies that audio file alone"),
        (["eval", str(tmp_path / "nope")], "dataset directory not found"),
        (["replay", str(tmp_path / "nobag")], "bag not found"),
        (
            ["export", str(tmp_path / "out"), "--model", str(tmp_path / "nomodel")],
            "model directory not found",
        ),
        (["bag-from-clip", str(tmp_path / "x.mp4"), "--out", str(tmp_path / "bag")], "clip file not found"),
        (["generate", str(tmp_path / "d"), "--emotions", "bored"], "--emotions"),
        (["generate", str(tmp_path / "d"), "--actors", "25"], "<= 24"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_runtime_errors_exit_1(tmp_path, capsys):
    not_a_bag = tmp_path / "not_a_bag"
    not_a_bag.mkdir()
    (not_a_bag / "metadata.yaml").write_text("this: is not rosbag2 metadata\n")
    assert main(["replay", str(not_a_bag)]) == 1
    assert "cannot open rosbag2" in capsys.readouterr().err
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    # an unusable --model is the caller's argument, refused like the node refuses it: exit 2
    assert main(["export", str(tmp_path / "out"), "--model", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    empty = tmp_path / "empty_dataset"
    empty.mkdir()
    assert main(["preprocess", str(empty), "--no-progress"]) == 1
    assert "no RAVDESS files" in capsys.readouterr().err


def test_cuda_request_without_cuda_is_a_clean_error(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model = AudiovisualEmotionLearner().save(str(tmp_path / "m"))
    assert main(["export", str(tmp_path / "out"), "--model", str(model), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_yaml_config_fills_options_and_flags_win(tmp_path):
    parser, parsers = build_parser()
    train = parsers["train"]
    cfg = tmp_path / "train.yaml"
    cfg.write_text("epochs: 7\nbatch-size: 3\nlr_steps: [2, 4]\nfusion: lt\namp: true\n")
    argv = ["data", "--config", str(cfg), "--epochs", "2"]
    args = apply_config(train, train.parse_args(argv), argv)
    assert (args.epochs, args.batch_size, args.lr_steps, args.fusion, args.amp) == (2, 3, [2, 4], "lt", True)
    assert args.data == "data"


@pytest.mark.parametrize(
    "text, message",
    [
        ("epoch: 3\n", "unknown option 'epoch'"),
        ("fusion: xx\n", "not one of"),
        ("- 1\n- 2\n", "mapping"),
        ("batch-size: many\n", "bad value"),
    ],
)
def test_bad_yaml_config_is_a_usage_error(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["train", str(tmp_path), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--config", str(Path(tmp_path) / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_unavailable_device_is_refused_before_any_work(tmp_path_factory, tmp_path, capsys):
    """`train --device cuda` on a machine without CUDA: one line, exit 2, nothing preprocessed."""
    import torch
    from cli_support import dataset

    data = dataset(tmp_path_factory)
    cache = tmp_path / "cache"
    cases = [("tpu", "not a torch device"), ("cuda:x", "not a torch device"), ("mps", "only cpu and cuda")]
    if not torch.cuda.is_available():
        cases += [("cuda", "CUDA is not available"), ("cuda:0", "CUDA is not available")]
    for device, message in cases:
        argv = ["train", str(data), "--cache-dir", str(cache), "--epochs", "1", "--no-progress"]
        assert main([*argv, "--device", device]) == 2, device
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not cache.exists(), "the device must be checked before preprocessing"
    for command in (["eval", str(data)], ["infer", str(data / "Actor_01")]):
        assert main([*command, "--device", "tpu"]) == 2
        assert "not a torch device" in capsys.readouterr().err


def test_wrong_flag_prints_the_subcommands_usage():
    proc = run_cli("preprocess", "data/", "--workers", "2")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: avemotion preprocess"), proc.stderr
    assert "--preprocess-workers" in proc.stderr.split("error:")[0]  # the usage lists the real flag
    hint = "unrecognized arguments: --workers 2 (did you mean: --workers -> --preprocess-workers?)"
    assert hint in proc.stderr
