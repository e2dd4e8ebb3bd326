"""ROS4HRI (REP-155) messages from the model's scores: ``hri_msgs/Expression`` per face.

The mapping itself (which constant, which valence/arousal) is ``avemotion_core.expression``; this
module only fills the message, so the ROS side cannot drift from the tested core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hri_msgs.msg import Expression, IdsList

from avemotion_core.expression import expression_from_scores

FACES_NS = "/humans/faces"
__all__ = ["FACES_NS", "Expression", "IdsList", "expression_msg", "expression_topic"]


def expression_topic(face_id: str) -> str:
    """Where ROS4HRI consumers read a face's expression (``hri_emotion_recognizer``'s topic)."""
    return f"{FACES_NS}/{face_id}/expression"


def expression_msg(header: Any, labels: Sequence[str], probs: Sequence[float]) -> Expression:
    """An ``hri_msgs/Expression`` for one window's class probabilities, stamped with ``header``.

    Raises what ``expression_from_scores`` raises (unmappable labels, probabilities that are not a
    distribution): check the labels once at start-up with ``avemotion_core.expression.check_labels``.
    """
    result = expression_from_scores(labels, probs)
    msg = Expression()
    msg.header = header
    msg.expression = result.expression
    msg.confidence = result.confidence
    msg.valence = result.valence
    msg.arousal = result.arousal
    return msg
