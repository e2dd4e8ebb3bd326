"""NodeConfig: every parameter has a range or choices, and buffers are sized from bounded values.

Issue 14 B: ``max_delay: 1e9`` passed validation and the node died allocating 58 TiB for the audio
ring; ``max_delay: 60`` grew RSS to 1.7 GB, ``image_size: 4096`` to 6.8 GB, and
``diagnostics_period: 1e-6`` burnt a core. Issue 11.5: ``hop_seconds: 1`` (an integer) crashed.
"""

from __future__ import annotations

import re

import pytest

from avemotion_core.stream.node_config import (
    FRAME_BUFFER_BUDGET_MB,
    ConfigError,
    NodeConfig,
    resolve_face_detector,
)


@pytest.mark.parametrize("values, fragment", [
    (dict(max_delay=1e9), "max_delay=1000000000.0 is outside [0.0, 5.0]"),
    (dict(max_delay=60.0), "max_delay"),
    (dict(image_size=4096, max_frame_side=4096), "image_size=4096 is outside"),
    (dict(diagnostics_period=1e-6), "diagnostics_period"),
    (dict(stale_after=1e9), "stale_after"),
    (dict(window_seconds=1e5), "window_seconds"),
    (dict(hop_seconds=1e-4), "hop_seconds"),
    (dict(qos_depth=100_000), "qos_depth"),
    (dict(num_threads=-1), "num_threads"),
    (dict(raw_audio_rate=10_000_000), "raw_audio_rate"),
    (dict(raw_audio_channels=0), "raw_audio_channels"),
    (dict(min_confidence=float("nan")), "finite"),
    (dict(max_frame_side=4096, debug_image=True), f"limit {FRAME_BUFFER_BUDGET_MB} MB"),  # 31 frames kept
    (dict(hop_seconds="fast"), "hop_seconds must be a number"),
    (dict(hop_seconds=True), "hop_seconds must be a number"),
    (dict(image_size=64.0), "image_size must be int"),
    (dict(face_detector="dlib"), "face_detector"),
])
def test_out_of_range_and_mistyped_values_are_refused(values, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        NodeConfig.from_values(values)


def test_integers_are_accepted_for_doubles():
    cfg = NodeConfig.from_values(dict(window_seconds=4, hop_seconds=1, max_delay=0))
    assert (cfg.window_seconds, cfg.hop_seconds, cfg.max_delay) == (4.0, 1.0, 0.0)
    assert isinstance(cfg.hop_seconds, float)


def test_every_parameter_is_described_and_bounded():
    for spec in NodeConfig.specs():
        assert spec.description, spec.name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert spec.low is not None and spec.low <= spec.default <= spec.high, spec
    assert {s.name for s in NodeConfig.specs() if s.live} == {"min_confidence", "debug_image",
                                                              "diagnostics_period"}


def test_only_live_parameters_change_at_run_time():
    cfg = NodeConfig()
    assert cfg.changed(dict(min_confidence=1, debug_image=True)).min_confidence == 1.0
    with pytest.raises(ConfigError, match="hop_seconds cannot change while the node runs"):
        cfg.changed(dict(hop_seconds=0.96))
    with pytest.raises(ConfigError, match="min_confidence"):
        cfg.changed(dict(min_confidence="high"))
    assert cfg.changed(dict(hop_seconds=cfg.hop_seconds)) == cfg  # an unchanged value is no change


def test_face_detector_defaults_to_the_models_then_haar():
    """'' (the default) = what the model's metadata records; a model that records none gets haar,
    as every model did before metadata had the field; an explicit setting always wins."""
    assert NodeConfig().face_detector == "" and NodeConfig().image_size == 0
    assert resolve_face_detector("", "mtcnn") == "mtcnn"
    assert resolve_face_detector("", None) == "haar"
    assert resolve_face_detector("none", "mtcnn") == "none"
