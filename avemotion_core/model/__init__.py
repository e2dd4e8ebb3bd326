"""The audiovisual emotion model (OpenDR-compatible ``MultiModalCNN``) and its training/eval input modes."""

from avemotion_core.model.fusion import FUSIONS
from avemotion_core.model.modality import DROPOUT_MODES, EVAL_MODES, apply_eval_mode, modality_dropout
from avemotion_core.model.multimodal import MultiModalCNN
from avemotion_core.model.pretrained import load_efficientface

__all__ = [
    "DROPOUT_MODES",
    "EVAL_MODES",
    "FUSIONS",
    "MultiModalCNN",
    "apply_eval_mode",
    "load_efficientface",
    "modality_dropout",
]
