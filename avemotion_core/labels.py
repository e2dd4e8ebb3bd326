"""RAVDESS emotion classes, in the order of the dataset's emotion field (field 3 minus 1), and the
constants every path shares."""

from pathlib import Path

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)

# Window geometry shared by preprocessing, inference and the ROS node (paper / OpenDR values).
SAMPLE_RATE = 22050
N_MFCC = 10
WINDOW_SECONDS = 3.6
WINDOW_SAMPLES = int(round(SAMPLE_RATE * WINDOW_SECONDS))  # 79380
MFCC_FRAMES = 156  # librosa default hop 512, centred: 1 + 79380 // 512
SEQ_LENGTH = 15
IMAGE_SIZE = 224

# The model shipped in the package (trained on synthetic actors): what the CLI and node use by default.
DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"
