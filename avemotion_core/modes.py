"""Every named choice a user can make, declared once and free of torch.

The model, the CLI's argument choices, the node's parameter validation and the dataset loader all
read these tuples; the CLI and the node must not pay for importing torch to validate a flag.
"""

FUSIONS = ("ia", "it", "lt")
"""Fusion of the audio and video branches: intermediate attention, intermediate transformer,
late transformer (arXiv 2201.11095, section 3.2)."""

DROPOUT_MODES = ("nodrop", "noisedrop", "zerodrop")
"""Modality dropout while training: none, replace a modality by noise, or by zeros."""

EVAL_MODES = ("audiovisual", "noisyaudio", "noisyvideo", "onlyaudio", "onlyvideo")
"""What the model is shown at evaluation: both modalities, one replaced by noise, or one alone."""

FACE_DETECTORS = ("haar", "mtcnn", "none")
"""How frames become face crops: OpenCV's Haar cascade, the MTCNN port OpenDR's RAVDESS crops were
made with, or none (the frames already show a cropped face)."""

PRIMARY_FACES = ("largest", "most_centred", "longest_tracked")
"""Which tracked person a stream's single emotion output follows when several are in view."""

FACE_SOURCES = ("camera", "ros4hri")
"""Where faces come from: our own detector on the camera, or ROS4HRI's ``hri_face_detect`` (its
tracked ids and per-id face crops)."""

FRAME_RUNTIMES = ("torchscript", "onnxruntime")
"""What encodes a stream's face crops once the model is frozen: the TorchScript graph, or (on CPU)
onnxruntime running the same frame encoder in less CPU time."""
