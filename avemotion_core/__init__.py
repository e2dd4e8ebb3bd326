"""avemotion_core: audiovisual emotion recognition (arXiv 2201.11095), pure Python, no ROS.

The public names are imported lazily so that light users (the node's message decoders, the
label table) do not pay for importing torch models and media libraries they never touch.
"""

from importlib import import_module
from typing import Any

from avemotion_core.category import Category
from avemotion_core.labels import EMOTIONS

_LAZY = {
    "AudiovisualEmotionLearner": "avemotion_core.learner",
    "get_audiovisual_emotion_dataset": "avemotion_core.data.dataset",
    "load_inference_data": "avemotion_core.data.inference_data",
}

__all__ = ["EMOTIONS", "Category", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'avemotion_core' has no attribute {name!r}")
