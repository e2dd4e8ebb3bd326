"""README.md's shell commands are run, so the README cannot drift from the tools again.

Every line of every ```bash block is either run here or listed in ``SKIPPED`` with the reason
(and, where possible, a cheaper check that its flags and files exist); a new or changed command
that is neither fails ``test_every_readme_command_is_run_or_skipped_with_a_reason``.

The ``avemotion`` commands run through the real console script, in README order, in one temporary
folder, with small settings appended (argparse lets a later flag win, so the README's own flags
are still parsed and validated): ``data/`` is the session's generated dataset shared with the other
CLI tests (its 64 px feature cache included), ``generate`` writes one short clip into
``generated/`` instead, and that clip (with its audio track) is ``clip.mp4``. A loopback HTTP
server stands in for the internet ($AVEMOTION_OPENDR_URL, $AVEMOTION_ZENODO_URL): it serves a
model in OpenDR's layout and RAVDESS-format zips of 2 actors (every take a generated clip), which
route B then preprocesses, trains on and exports for real.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import IMAGE_SIZE, ROOT, dataset, run_cli
from loopback import clip_media, opendr_model, publish_record, serve, zenodo_site

from avemotion_core.cli import build_parser
from avemotion_core.data.ravdess_fetch import URL_ENV as ZENODO_ENV
from avemotion_core.model.download import OPENDR_MODEL, URL_ENV

README = ROOT / "README.md"

# Appended to each subcommand: CPU, one epoch of one variant per clip (no modality dropout, which makes
# four) without activation checkpointing (test_train_memory.py tests it), 64 px crops, as many
# preprocessing processes as cores, one small clip to generate.
SMALL = {
    "generate": ["--actors", "1", "--emotions", "happy", "--statements", "1", "--frame-size", "160x120",
                 "--av", "--no-progress"],
    "preprocess": ["--image-size", IMAGE_SIZE, "--preprocess-workers", "2", "--no-progress"],
    "train": ["--image-size", IMAGE_SIZE, "--epochs", "1", "--batch-size", "2", "--workers", "0",
              "--device", "cpu", "--mod-drop", "nodrop", "--no-checkpoint-frames", "--no-progress"],
    "eval": ["--no-progress"],
    "download": ["--no-progress"],
    "fetch-ravdess": ["--actors", "1,2", "--no-progress"],
}

TORCHRUN = ("OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m avemotion_core.cli train data/ "
            "--out model/ --run-dir runs/")
TORCHRUN_RAVDESS = ("OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m avemotion_core.cli train "
                    "ravdess/ --out model_ravdess/ --run-dir runs_ravdess/ --image-size 224 "
                    "--face-detector mtcnn --epochs 100 --batch-size 8 --device cuda")
LAUNCH = "ros2 launch avemotion_ros emotion.launch.py image_topic:=/camera/image_raw audio_topic:=/audio"
LAUNCH_A = ("ros2 launch avemotion_ros emotion.launch.py model_path:=$PWD/models/opendr_ia "
            "image_topic:=/camera/image_raw audio_topic:=/audio")
LAUNCH_B = ("ros2 launch avemotion_ros emotion.launch.py model_path:=$PWD/model_ravdess_ts "
            "image_topic:=/camera/image_raw audio_topic:=/audio")
LAUNCH_MULTI = "ros2 launch avemotion_ros emotion.launch.py max_faces:=4 primary_face:=largest ros4hri:=true"
LAUNCH_HRI = "ros2 launch avemotion_ros emotion.launch.py face_source:=ros4hri ros4hri:=true"
ROS_RUN = "ros2 run avemotion_ros emotion_node --ros-args --params-file config/emotion.yaml"
NEEDS_ROS_SYSTEM = ("needs a ROS 2 system (rosdep, colcon, the ros2 CLI, launch_ros: not on PyPI); the "
                    "package it installs is resolved through the ament index and its node run by "
                    "test_ros_packaging.py")
SKIPPED = {
    "make demo": "runs the node and a player over DDS for a minute: test_ros_node.py runs that node over DDS",
    "make test": "is this test suite itself (CI runs it)",
    TORCHRUN: "a 2-process DDP run costs minutes on 2 cores: test_cli_train.py::"
              "test_torchrun_ddp_two_processes_on_cpu runs it reduced; its flags are parsed here",
    TORCHRUN_RAVDESS: "needs GPUs (the route B `train` line before it runs reduced here); its flags are "
                      "parsed here",
    LAUNCH: "needs the ros2 CLI and launch_ros (not on PyPI); its arguments are checked here",
    LAUNCH_A: "needs the ros2 CLI and launch_ros; its arguments are checked here and "
              "test_ros_node_downloaded_model.py runs the node on a downloaded model",
    LAUNCH_B: "needs the ros2 CLI and launch_ros; its arguments are checked here",
    LAUNCH_MULTI: "needs the ros2 CLI and launch_ros; its arguments are checked here and "
                  "test_ros_multi_face.py runs the node with them over DDS",
    LAUNCH_HRI: "needs the ros2 CLI and launch_ros; its arguments are checked here and "
                "test_ros_hri_input.py runs the node with them over DDS",
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
    for torchrun in (TORCHRUN, TORCHRUN_RAVDESS):
        words = shlex.split(torchrun)
        argv = words[words.index("avemotion_core.cli") + 1 :]
        args, extras = parser.parse_known_args(argv)
        assert args.command == "train" and not extras, extras
    spec = importlib.util.spec_from_file_location("emotion_launch", ROOT / "launch" / "emotion.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    for line in (LAUNCH, LAUNCH_A, LAUNCH_B, LAUNCH_MULTI, LAUNCH_HRI):
        names = dict(arg.split(":=", 1) for arg in shlex.split(line) if ":=" in arg)
        assert set(names) <= {*launch.OVERRIDABLE, *launch.REMAPS, "namespace", "params_file"}, names
        launch.overrides({k: v for k, v in names.items() if k in launch.OVERRIDABLE and k != "model_path"})
    assert (ROOT / shlex.split(ROS_RUN)[-1]).is_file()


@pytest.fixture
def internet(tmp_path_factory) -> Iterator[dict[str, str]]:
    """OpenDR's model server and Zenodo on loopback: the env that points the downloaders at them."""
    meta, weights = opendr_model("ia")
    with serve(zenodo_site([1, 2], clip_media(dataset(tmp_path_factory)))) as site:
        site.files.update({f"/opendr/{OPENDR_MODEL}.json": meta, f"/opendr/{OPENDR_MODEL}.pt": weights})
        publish_record(site)
        yield {URL_ENV: f"{site.url}/opendr/", ZENODO_ENV: site.url}


def test_readme_avemotion_commands_run_in_order(tmp_path_factory, tmp_path, internet):
    (tmp_path / "data").symlink_to(dataset(tmp_path_factory), target_is_directory=True)
    commands = [shlex.split(c) for c in readme_commands() if c.startswith("avemotion ")]
    assert [c[1] for c in commands] == ["generate", "preprocess", "train", "eval", "infer", "export",
                                        "bag-from-clip", "replay", "download", "infer", "fetch-ravdess",
                                        "preprocess", "train", "export"]
    for words in commands:
        sub, args = words[1], words[2:]
        if sub == "generate":
            args = ["generated/" if a == "data/" else a for a in args]
        proc = run_cli(sub, *args, *SMALL.get(sub, []), cwd=tmp_path, timeout=600, env=internet)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (words, proc.stdout, proc.stderr)
        if sub == "generate":
            clip = next((tmp_path / "generated").rglob("01-*.mp4"))  # with its audio track
            shutil.copy(clip, tmp_path / "clip.mp4")
        if sub == "infer" and "models/opendr_ia/" in args:  # route A: crops as OpenDR trained
            assert "224 px crops, mtcnn face detector" in proc.stderr, proc.stderr
    outputs = ("model/metadata.json", "report/metrics.json", "out/model.torchscript.pt", "out/model.onnx",
               "labels.csv", "bag", "replay", "models/opendr_ia/model_weights.pt", "ravdess/Actor_02",
               "model_ravdess_ts/model.torchscript.pt")
    assert [o for o in outputs if not (tmp_path / o).exists()] == []
    assert Path(tmp_path / "model" / "metadata.json").read_text().count(f'"image_size": {IMAGE_SIZE}') == 1
    trained = json.loads((tmp_path / "model_ravdess" / "metadata.json").read_text())
    assert (trained["face_detector"], trained["image_size"]) == ("mtcnn", int(IMAGE_SIZE))
    exported = json.loads((tmp_path / "model_ravdess_ts" / "metadata.json").read_text())
    assert exported["face_detector"] == "mtcnn", "the node on the export crops as training did"
