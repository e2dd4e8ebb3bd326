"""metadata.json is checked field by field and size-capped before parsing (issue 14 D, 10, 12)."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avemotion_core.cli import main
from avemotion_core.fileio import ModelFileError
from avemotion_core.learner import AudiovisualEmotionLearner
from avemotion_core.model.files import MAX_METADATA_BYTES, read_metadata
from avemotion_core.stream.node_config import DEFAULT_MODEL


def with_metadata(tmp_path: Path, name: str, source: Path = DEFAULT_MODEL, **changes) -> Path:
    """A copy of the model in ``source`` (the embedded one by default) with ``changes`` written into
    its metadata.json (``None`` = JSON null)."""
    out = tmp_path / name
    shutil.copytree(source, out)
    meta = json.loads((out / "metadata.json").read_text())
    meta.update(changes)
    (out / "metadata.json").write_text(json.dumps(meta))
    return out


BAD_FIELDS = {
    "num_class": None,
    "labels": 5,
    "sha256": "abc",
    "fusion": "xx",
    "image_size": "64",
    "face_detector": "dlib",
    "seq_length": 0,
    "model_paths": [],
}


@pytest.mark.parametrize("key", sorted(BAD_FIELDS))
def test_malformed_fields_are_model_file_errors(tmp_path, key):
    """Before: TypeError / AttributeError tracebacks from the loaders (num_class null, labels 5, ...)."""
    path = with_metadata(tmp_path, key, **{key: BAD_FIELDS[key]})
    with pytest.raises(ModelFileError, match=f"'{key}' must be"):
        AudiovisualEmotionLearner.from_model_dir(path)
    with pytest.raises(ModelFileError, match=f"'{key}' must be"):
        AudiovisualEmotionLearner(n_workers=0).load(path, verbose=False)


def test_inconsistent_and_bad_hash_metadata(tmp_path):
    with pytest.raises(ModelFileError, match="7 labels for num_class 8"):
        AudiovisualEmotionLearner.from_model_dir(with_metadata(tmp_path, "short", labels=list("abcdefg")))
    with pytest.raises(ModelFileError, match="distinct"):
        AudiovisualEmotionLearner.from_model_dir(with_metadata(tmp_path, "dup", labels=["a"] * 8))
    with pytest.raises(ModelFileError, match="64 hex digits"):
        AudiovisualEmotionLearner.from_model_dir(
            with_metadata(tmp_path, "hash", sha256={"model.safetensors": "abc"}))
    deep = with_metadata(tmp_path, "deep")
    (deep / "metadata.json").write_text("[" * 200_000)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        read_metadata(deep)


def test_oversized_metadata_is_refused_before_it_is_read(tmp_path):
    """Before: a 2 GB sparse file peaked at 4.4 GB, and 2 GB of whitespace + JSON was accepted."""
    padded = with_metadata(tmp_path, "padded")
    valid = (padded / "metadata.json").read_text()
    (padded / "metadata.json").write_text(" " * MAX_METADATA_BYTES + valid)
    with pytest.raises(ModelFileError, match="byte limit"):
        read_metadata(padded)
    sparse = with_metadata(tmp_path, "sparse")
    with open(sparse / "metadata.json", "r+b") as f:
        f.truncate(2 << 30)  # 2 GB of holes: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="byte limit"):
            read_metadata(sparse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_METADATA_BYTES, f"reading peaked at {peak / 2**20:.0f} MB"


def test_cli_reports_bad_metadata_in_one_line(tmp_path, capsys):
    bad = with_metadata(tmp_path, "nc", num_class=None)
    sf.write(tmp_path / "a.wav", np.zeros(22050, np.float32), 22050)
    (tmp_path / "data").mkdir()
    for argv in (["infer", "--audio", tmp_path / "a.wav", "--model", bad],
                 ["eval", tmp_path / "data", "--model", bad]):
        code = main([str(a) for a in argv])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (argv, lines)  # as the node: one line, exit 2
        assert "'num_class' must be an integer" in lines[0], lines
