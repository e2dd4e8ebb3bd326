"""``avemotion infer`` runs the node's streaming engine: no label from a face that is not there, no
window past the end of the media, coverage reported per window (issue 11 items 2 and 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from media_helpers import astronaut, paste, speech

from avemotion_core.cli import main
from avemotion_core.media.video import write_video

FPS = 15


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> tuple[np.ndarray, int]:
    x, sr = speech(tmp_path_factory.mktemp("speech"), "I cannot believe it. This is the best day of my "
                   "life, and I want to tell everybody about it right now.")
    return x, sr


def clip(path, seconds: float, voice, face: bool) -> str:
    x, sr = voice
    audio = np.resize(x, int(seconds * sr)).astype(np.float32)
    cup = np.full((240, 320, 3), 200, np.uint8)
    cup[80:200, 120:200] = (150, 90, 40)  # a brown mug on a light table: no face anywhere
    frame = paste((240, 320), astronaut(200), 60, 20) if face else cup
    write_video(path, [frame] * int(seconds * FPS), FPS, audio, sr)
    return str(path)


def infer_rows(capsys, *argv) -> list[dict]:
    assert main(["infer", *argv, "--image-size", "64", "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_clip_without_a_face_is_classified_from_its_audio_and_says_so(tmp_path, voice, capsys):
    rows = infer_rows(capsys, clip(tmp_path / "cup.mp4", 8.0, voice, face=False))
    assert [r["mode"] for r in rows] == ["onlyaudio", "onlyaudio"]
    assert all(r["face_coverage"] == 0.0 and r["frame_coverage"] == 1.0 for r in rows)
    rows = infer_rows(capsys, clip(tmp_path / "face.mp4", 8.0, voice, face=True))
    assert [r["mode"] for r in rows] == ["audiovisual", "audiovisual"]
    assert all(r["face_coverage"] == 1.0 for r in rows)
    # the text output names the mode and coverage of a window that is not fully audiovisual
    assert main(["infer", str(tmp_path / "cup.mp4"), "--image-size", "64"]) == 0
    assert "[onlyaudio; audio 100%, face 0%]" in capsys.readouterr().out


def test_no_window_past_the_end_and_a_short_clip_reports_its_coverage(tmp_path, voice, capsys):
    rows = infer_rows(capsys, clip(tmp_path / "five.mp4", 5.0, voice, face=True))
    assert [(r["start"], r["end"]) for r in rows] == [(0.0, 3.6)]  # not [3.6-7.2], 2.2 s of padding
    rows = infer_rows(capsys, clip(tmp_path / "two.mp4", 2.0, voice, face=True))
    assert len(rows) == 1 and rows[0]["audio_coverage"] == pytest.approx(2.0 / 3.6, abs=0.02)
    assert rows[0]["frame_coverage"] == pytest.approx(8 / 15, abs=0.07)
