"""The model's emotion scores as a ROS4HRI facial expression: label, confidence, valence, arousal.

ROS4HRI (REP-155) consumers read ``hri_msgs/Expression``: one of its string constants, a
confidence, and a point in the valence/arousal plane. The model scores the RAVDESS classes
(``labels.EMOTIONS``), so this module fixes how those classes become an Expression. It works on
the model's own label names, in the model's order, so a model trained on a subset of the classes
or in another order is mapped by name. No ROS import: the node fills the message from the result.

Valence/arousal of each class come from a published table, not from judgement: the mean
pleasure (P) and arousal (A) ratings of emotion terms in Table 4 of

    J. A. Russell & A. Mehrabian (1977), "Evidence for a three-factor theory of emotions",
    Journal of Research in Personality 11(3):273-294, doi:10.1016/0092-6566(77)90037-X.

Both scales there run from -1 to +1, the range of ``Expression.valence``/``arousal``. The table has
no "neutral" and no "calm": neutral is the origin of both bipolar scales (neither pleasant nor
unpleasant, neither activated nor deactivated), and calm uses the table's nearest term, "Relaxed".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

# RAVDESS class -> hri_msgs/Expression constant (the value of NEUTRAL, HAPPY, ...). REP-155 has no
# "calm"; a calm face is a neutral one to a consumer that cannot tell the two apart.
EXPRESSION_OF: dict[str, str] = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "scared",
    "disgust": "disgusted",
    "surprised": "surprised",
}

# RAVDESS class -> (valence, arousal) = (P, A) means of Russell & Mehrabian (1977), Table 4; the
# comment names the table's term and row. Neutral is the scales' origin (see the module docstring).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.00, 0.00),  # origin of both scales, not a table row
    "calm": (0.68, -0.46),  # "Relaxed", row 59
    "happy": (0.81, 0.51),  # "Happy", row 31
    "sad": (-0.63, -0.27),  # "Sad", row 151
    "angry": (-0.51, 0.59),  # "Angry", row 82
    "fearful": (-0.64, 0.60),  # "Fearful", row 101
    "disgust": (-0.60, 0.35),  # "Disgusted", row 75
    "surprised": (0.40, 0.67),  # "Surprised", row 52
}

CIRCUMPLEX_SOURCE = (
    "Russell & Mehrabian (1977), Evidence for a three-factor theory of emotions, "
    "J. Research in Personality 11:273-294, Table 4 (pleasure, arousal means)"
)

# Softmax output sums to 1 up to float32 rounding; anything further off is not a distribution
# (logits, a truncated vector) and would give a silently wrong valence/arousal.
SUM_TOLERANCE = 1e-3


class UnknownEmotion(ValueError):
    """A label has no ROS4HRI mapping (the model's classes are not RAVDESS emotions)."""


class Expression(NamedTuple):
    """What ``hri_msgs/Expression`` carries besides its header."""

    expression: str
    confidence: float
    valence: float
    arousal: float


def check_labels(labels: Sequence[str]) -> None:
    """Refuse label sets that cannot be mapped, so a node can fail at start-up, not per window.

    Every label must be one of the RAVDESS class names (any subset, any order), each at most once.
    """
    if not labels:
        raise UnknownEmotion("no labels: nothing to map to a ROS4HRI expression")
    unknown = [name for name in labels if name not in EXPRESSION_OF]
    if unknown:
        raise UnknownEmotion(
            f"no ROS4HRI expression for label(s) {', '.join(map(repr, unknown))}; "
            f"the mapping knows {', '.join(EXPRESSION_OF)}"
        )
    if len(set(labels)) != len(labels):
        raise UnknownEmotion(f"duplicate labels in {list(labels)}")


def expression_from_scores(labels: Sequence[str], probs: Sequence[float]) -> Expression:
    """One window's class probabilities as a ROS4HRI expression.

    ``expression`` is the constant with the highest probability, where a constant's probability is
    the sum over the classes mapped to it (neutral + calm both mean "neutral"), and ``confidence``
    is that sum. ``valence``/``arousal`` are the probability-weighted mean of the classes'
    circumplex coordinates (``CIRCUMPLEX``). They lie in [-1, 1] without clipping: every table
    value is within +-0.81 and the weights sum to at most 1 + ``SUM_TOLERANCE``. Ties go to the
    constant whose first class comes first in ``labels``.

    Raises ``UnknownEmotion`` for labels without a mapping and ``ValueError`` for probabilities
    that are not a distribution over ``labels`` (wrong length, negative, non-finite, sum != 1).
    """
    check_labels(labels)
    p = [float(x) for x in probs]
    if len(p) != len(labels):
        raise ValueError(f"{len(p)} probabilities for {len(labels)} labels")
    if not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in p):
        raise ValueError(f"probabilities must be finite and in [0, 1], got {p}")
    if abs(sum(p) - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"probabilities sum to {sum(p):.6f}, not 1 (are these logits?)")
    mass: dict[str, float] = {}
    for name, x in zip(labels, p, strict=True):
        constant = EXPRESSION_OF[name]
        mass[constant] = mass.get(constant, 0.0) + x
    best = max(mass, key=mass.__getitem__)  # dicts keep insertion order: first maximum wins ties
    valence = sum(x * CIRCUMPLEX[name][0] for name, x in zip(labels, p, strict=True))
    arousal = sum(x * CIRCUMPLEX[name][1] for name, x in zip(labels, p, strict=True))
    return Expression(best, min(1.0, mass[best]), valence, arousal)
