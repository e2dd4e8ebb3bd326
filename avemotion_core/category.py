"""The result type of ``AudiovisualEmotionLearner.infer`` (OpenDR's ``Category``, plus all scores)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Category:
    """One prediction: class index, its label and softmax confidence.

    ``scores`` keeps the probability of every class (label -> probability) because the ROS node
    publishes all hypotheses, not only the winner. ``mode`` records which eval mode produced it
    (e.g. ``onlyaudio`` when the camera was stale), so a consumer can tell degraded output apart.
    """

    data: int
    description: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    mode: str = "audiovisual"

    def __int__(self) -> int:
        return self.data
