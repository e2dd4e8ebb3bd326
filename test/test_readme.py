"""README.md's shell commands are run, so the README cannot drift from the tools again.

Every line of every ```bash block is either run here or listed in ``SKIPPED`` with the reason
(and, where possible, a cheaper check that its flags and files exist); a new or changed command
that is neither fails ``test_every_readme_command_is_run_or_skipped_with_a_reason``.

The ``avemotion`` commands run through the real console script, in README order, in one temporary
folder, with small settings appended (argparse lets a later flag win, so the README's own flags
are still parsed and validated): ``data/`` is the session's generated dataset shared with the other
CLI tests (its 64 px feature cache included), ``generate`` writes one short clip into
``generated/`` instead, and that clip (with its audio track) is ``clip.mp4``.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
from pathlib import Path

import pytest
from cli_support import IMAGE_SIZE, ROOT, dataset, run_cli

from avemotion_core.cli import build_parser

README = ROOT / "README.md"

# Appended to each subcommand: CPU, one epoch, 64 px crops, one small clip to generate.
SMALL = {
    "generate": ["--actors", "1", "--emotions", "happy", "--statements", "1", "--frame-size", "160x120",
                 "--av", "--no-progress"],
    "preprocess": ["--image-size", IMAGE_SIZE, "--no-progress"],
    "train": ["--image-size", IMAGE_SIZE, "--epochs", "1", "--batch-size", "2", "--workers", "0",
              "--device", "cpu", "--no-progress"],
    "eval": ["--no-progress"],
}

TORCHRUN = ("OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m avemotion_core.cli train data/ "
            "--out model/ --run-dir runs/")
LAUNCH = "ros2 launch avemotion_ros emotion.launch.py image_topic:=/camera/image_raw audio_topic:=/audio"
ROS_RUN = "ros2 run avemotion_ros emotion_node --ros-args --params-file config/emotion.yaml"
NEEDS_ROS_SYSTEM = ("needs a ROS 2 system (rosdep, colcon, the ros2 CLI, launch_ros: not on PyPI); the "
                    "package it installs is resolved through the ament index and its node run by "
                    "test_ros_packaging.py")
SKIPPED = {
    "make demo": "runs the node and a player over DDS for a minute: test_ros_node.py runs that node over DDS",
    "make test": "is this test suite itself (CI runs it)",
    TORCHRUN: "a 2-process DDP run costs minutes on 2 cores: test_cli_train.py::"
              "test_torchrun_ddp_two_processes_on_cpu runs it reduced; its flags are parsed here",
    LAUNCH: "needs the ros2 CLI and launch_ros (not on PyPI); its arguments are checked here",
    ROS_RUN: "needs the ros2 CLI (not on PyPI); its params file is checked here",
    "cd ~/ros2_ws": NEEDS_ROS_SYSTEM,
    "rosdep install --from-paths src --ignore-src -y": NEEDS_ROS_SYSTEM,
    "python3 -m pip install -r src/avemotion/requirements.txt": NEEDS_ROS_SYSTEM,
    "colcon build --packages-up-to avemotion_ros": NEEDS_ROS_SYSTEM,
    "source install/setup.bash": NEEDS_ROS_SYSTEM,
    "ros2 launch avemotion_ros emotion.launch.py": NEEDS_ROS_SYSTEM,
}


def readme_commands() -> list[str]:
    """Each command of the bash blocks (backslash continuations joined), comments stripped and
    whitespace normalised."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [" ".join(words) for line in lines if (words := shlex.split(line, comments=True))]


def test_every_readme_command_is_run_or_skipped_with_a_reason():
    commands = readme_commands()
    assert len(commands) > 10, commands
    unknown = [c for c in commands if not c.startswith("avemotion ") and c not in SKIPPED]
    assert not unknown, f"README commands neither run by this test nor in SKIPPED: {unknown}"
    assert not set(SKIPPED) - set(commands), "SKIPPED lists commands the README no longer has"


@pytest.mark.parametrize("command", sorted(SKIPPED))
def test_skipped_readme_command(command):
    pytest.skip(f"`{command}` {SKIPPED[command]}")


def test_commands_that_cannot_run_here_have_valid_arguments():
    """What can be checked of the skipped commands without ROS or a second process."""
    parser, _ = build_parser()
    words = shlex.split(TORCHRUN)
    argv = words[words.index("avemotion_core.cli") + 1 :]
    args, extras = parser.parse_known_args(argv)
    assert args.command == "train" and not extras, extras
    spec = importlib.util.spec_from_file_location("emotion_launch", ROOT / "launch" / "emotion.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    names = dict(arg.split(":=", 1) for arg in shlex.split(LAUNCH) if ":=" in arg)
    assert set(names) <= {*launch.OVERRIDABLE, *launch.REMAPS, "namespace", "params_file"}, names
    assert (ROOT / shlex.split(ROS_RUN)[-1]).is_file()


def test_readme_avemotion_commands_run_in_order(tmp_path_factory, tmp_path):
    (tmp_path / "data").symlink_to(dataset(tmp_path_factory), target_is_directory=True)
    commands = [shlex.split(c) for c in readme_commands() if c.startswith("avemotion ")]
    assert [c[1] for c in commands] == ["generate", "preprocess", "train", "eval", "infer", "export",
                                        "bag-from-clip", "replay"]
    for words in commands:
        sub, args = words[1], words[2:]
        if sub == "generate":
            args = ["generated/" if a == "data/" else a for a in args]
        proc = run_cli(sub, *args, *SMALL.get(sub, []), cwd=tmp_path, timeout=600)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (words, proc.stdout, proc.stderr)
        if sub == "generate":
            clip = next((tmp_path / "generated").rglob("01-*.mp4"))  # with its audio track
            shutil.copy(clip, tmp_path / "clip.mp4")
    outputs = ("model/metadata.json", "report/metrics.json", "out/model.torchscript.pt", "out/model.onnx",
               "labels.csv", "bag", "replay")
    assert [o for o in outputs if not (tmp_path / o).exists()] == []
    assert Path(tmp_path / "model" / "metadata.json").read_text().count(f'"image_size": {IMAGE_SIZE}') == 1
