"""RAVDESS scores -> ROS4HRI expression: mapping, confidence and the weighted circumplex point.

Expected numbers are computed by hand from Russell & Mehrabian (1977), Table 4 (P, A means):
Relaxed (.68, -.46), Happy (.81, .51), Sad (-.63, -.27), Angry (-.51, .59), Fearful (-.64, .60),
Disgusted (-.60, .35), Surprised (.40, .67); neutral is the origin.
"""

from __future__ import annotations

import math
import re

import pytest

from avemotion_core.expression import (
    CIRCUMPLEX,
    EXPRESSION_OF,
    UnknownEmotion,
    check_labels,
    expression_from_scores,
)
from avemotion_core.labels import EMOTIONS

# The table rows as printed, written out here independently of the module.
TABLE = {
    "neutral": (0.0, 0.0),
    "calm": (0.68, -0.46),
    "happy": (0.81, 0.51),
    "sad": (-0.63, -0.27),
    "angry": (-0.51, 0.59),
    "fearful": (-0.64, 0.60),
    "disgust": (-0.60, 0.35),
    "surprised": (0.40, 0.67),
}
# REP-155 / hri_msgs Expression constant values each RAVDESS class must become.
CONSTANT = {
    "neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
    "fearful": "scared", "disgust": "disgusted", "surprised": "surprised",
}


def close(result, expression: str, confidence: float, valence: float, arousal: float) -> None:
    assert result.expression == expression
    assert math.isclose(result.confidence, confidence, abs_tol=1e-12)
    assert math.isclose(result.valence, valence, abs_tol=1e-12), result
    assert math.isclose(result.arousal, arousal, abs_tol=1e-12), result


def test_every_class_one_hot_gives_its_constant_and_table_point() -> None:
    assert set(EXPRESSION_OF) == set(CIRCUMPLEX) == set(EMOTIONS)
    for k, name in enumerate(EMOTIONS):
        probs = [1.0 if j == k else 0.0 for j in range(len(EMOTIONS))]
        close(expression_from_scores(EMOTIONS, probs), CONSTANT[name], 1.0, *TABLE[name])


def test_weighted_mixture_matches_hand_computation() -> None:
    # angry .5, happy .3, sad .2:
    # valence = .5*-.51 + .3*.81 + .2*-.63 = -.255 + .243 - .126 = -.138
    # arousal = .5*.59 + .3*.51 + .2*-.27 = .295 + .153 - .054 = .394
    probs = dict.fromkeys(EMOTIONS, 0.0) | {"angry": 0.5, "happy": 0.3, "sad": 0.2}
    close(expression_from_scores(EMOTIONS, [probs[n] for n in EMOTIONS]), "angry", 0.5, -0.138, 0.394)


def test_neutral_and_calm_pool_into_one_neutral_expression() -> None:
    # neutral .3 + calm .3 = .6 beats happy .4 although happy is the most probable single class.
    # valence = .3*0 + .3*.68 + .4*.81 = .528; arousal = .3*0 + .3*-.46 + .4*.51 = .066
    close(expression_from_scores(["neutral", "calm", "happy"], [0.3, 0.3, 0.4]), "neutral", 0.6, 0.528, 0.066)


def test_subset_in_another_order_is_mapped_by_name() -> None:
    # surprised .2, fearful .5, disgust .3:
    # valence = .2*.40 + .5*-.64 + .3*-.60 = .08 - .32 - .18 = -.42
    # arousal = .2*.67 + .5*.60 + .3*.35 = .134 + .30 + .105 = .539
    close(expression_from_scores(("surprised", "fearful", "disgust"), [0.2, 0.5, 0.3]),
          "scared", 0.5, -0.42, 0.539)


def test_tie_goes_to_the_first_label_and_confidence_never_exceeds_one() -> None:
    assert expression_from_scores(["sad", "angry"], [0.5, 0.5]).expression == "sad"
    assert expression_from_scores(["angry", "sad"], [0.5, 0.5]).expression == "angry"
    # within the rounding tolerance the pooled mass can pass 1; the confidence stays a probability
    assert expression_from_scores(["neutral", "calm"], [0.6, 0.4005]).confidence == 1.0


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["class_0", "happy", "Joy"], "no ROS4HRI expression for label(s) 'class_0', 'Joy'"),
        (["happy", "happy"], "duplicate labels"),
        ([], "no labels"),
    ],
)
def test_unmappable_labels_are_refused_with_one_clear_line(labels, message) -> None:
    with pytest.raises(UnknownEmotion, match=re.escape(message)) as info:
        check_labels(labels)
    assert "\n" not in str(info.value)
    with pytest.raises(UnknownEmotion, match=re.escape(message)):
        expression_from_scores(labels, [1.0 / max(1, len(labels))] * len(labels))


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ([0.5, 0.5], "2 probabilities for 3 labels"),
        ([2.0, -0.5, -0.5], "finite and in \\[0, 1\\]"),
        ([float("nan"), 0.5, 0.5], "finite and in \\[0, 1\\]"),
        ([0.9, 0.8, 0.7], "sum to 2.400000, not 1"),
        ([0.2, 0.2, 0.2], "sum to 0.600000, not 1"),
    ],
)
def test_probabilities_that_are_not_a_distribution_are_refused(probs, message) -> None:
    with pytest.raises(ValueError, match=message):
        expression_from_scores(["happy", "sad", "angry"], probs)
