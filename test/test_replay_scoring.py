"""Replay scoring in isolation (fast: the mutation run's test selection for it): the labels CSV
reader, the window -> label lookup and the accuracy / confusion matrix, against hand-worked values.
The end-to-end replay on a real bag is test_cli_replay.py."""

from __future__ import annotations

import pytest

from avemotion_core.cli.common import UsageError
from avemotion_core.cli.replay import LabelRange, _score, label_at, read_labels

LABELS = ["neutral", "calm", "happy", "sad"]


def write(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_read_labels_parses_ranges_in_file_order(tmp_path):
    path = write(tmp_path, "start,end,label\n0,3.5, happy \n3.5,7.25,sad\n10,12,calm\n")
    assert read_labels(path) == [LabelRange(0.0, 3.5, "happy"), LabelRange(3.5, 7.25, "sad"),
                                 LabelRange(10.0, 12.0, "calm")]
    # 'emotion' is accepted for 'label'; extra columns are ignored
    path = write(tmp_path, "clip,start,end,emotion\na.mp4,1,2,sad\n")
    assert read_labels(path) == [LabelRange(1.0, 2.0, "sad")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no rows"),
        ("start,end,label\n", "has no rows"),
        ("begin,end,label\n0,1,sad\n", "needs columns start,end,label"),
        ("start,end\n0,1\n", "needs columns start,end,label"),
        ("start,end,label\n0,x,sad\n", "line 2: start/end must be numbers"),
        ("start,end,label\n0,1,sad\n2,2,sad\n", "line 3: need start < end, got 2.0, 2.0"),
        ("start,end,label\n3,1,sad\n", "need start < end"),
        ("start,end,label\nnan,1,sad\n", "need start < end"),
        ("start,end,label\n0,inf,sad\n", "need start < end"),
    ],
)
def test_read_labels_rejects_bad_files(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        read_labels(write(tmp_path, text))


def test_read_labels_missing_or_binary_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read labels"):
        read_labels(tmp_path / "absent.csv")
    bad = tmp_path / "binary.csv"
    bad.write_bytes(b"\xff\xfe\x00start")
    with pytest.raises(UsageError, match="cannot read labels"):
        read_labels(bad)


def test_label_at_uses_half_open_ranges_and_gaps():
    ranges = [LabelRange(0.0, 3.5, "happy"), LabelRange(3.5, 7.0, "sad"), LabelRange(9.0, 10.0, "calm")]
    expected = {-0.1: None, 0.0: "happy", 1.75: "happy", 3.4999: "happy", 3.5: "sad", 6.999: "sad",
                7.0: None, 8.0: None, 9.0: "calm", 9.99: "calm", 10.0: None}
    assert {t: label_at(ranges, t) for t in expected} == expected
    assert label_at([], 1.0) is None
    # overlapping ranges: the first listed wins
    assert label_at([LabelRange(0, 5, "sad"), LabelRange(2, 4, "happy")], 3.0) == "sad"


def rows(*pairs):
    return [{"true_label": t, "label": p} for t, p in pairs]


def test_score_counts_labelled_windows_into_the_matrix():
    result = _score(rows(("happy", "happy"), ("happy", "sad"), ("sad", "sad"), ("", "calm"),
                         ("sad", "sad"), ("calm", "happy")), LABELS)
    assert result["labelled_windows"] == 5 and result["unlabelled_windows"] == 1
    assert result["acc"] == pytest.approx(3 / 5)
    assert result["labels"] == LABELS
    assert result["confusion_matrix"] == [  # row = true label, column = prediction
        [0, 0, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 1, 1],
        [0, 0, 0, 2],
    ]


def test_score_without_labelled_windows_and_with_unknown_labels():
    result = _score(rows(("", "sad"), ("", "happy")), LABELS)
    assert result["acc"] is None and result["labelled_windows"] == 0 and result["unlabelled_windows"] == 2
    assert result["confusion_matrix"] == [[0] * 4 for _ in range(4)]
    assert _score([], LABELS)["acc"] is None
    with pytest.raises(UsageError, match=r"\['bored', 'tired'\].*neutral, calm, happy, sad"):
        _score(rows(("tired", "sad"), ("bored", "sad"), ("happy", "happy")), LABELS)
