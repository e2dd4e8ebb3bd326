"""The real emotion_node on a model installed by ``avemotion download`` runs it as it was trained.

OpenDR's published weights expect 224 px MTCNN face crops but OpenDR's metadata does not say so;
``avemotion download`` records it, and the node must take both from the model when its parameters
are left at "from the model" (``image_size: 0``, ``face_detector: ''``, the shipped defaults).
The model is built here in OpenDR's layout and served by a loopback HTTP server.
"""

from __future__ import annotations

from pathlib import Path

from cli_support import run_cli
from loopback import Site, opendr_model, serve
from ros_support import ros_env  # noqa: F401
from test_ros_node import Listener, start_node, stop_node, write_params

from avemotion_core.model.download import OPENDR_MODEL, URL_ENV

START_TIMEOUT = 120.0


def test_node_takes_crop_size_and_face_detector_from_a_downloaded_model(ros_env, tmp_path: Path):  # noqa: F811
    meta, weights = opendr_model("ia")
    files = {f"/m/{OPENDR_MODEL}.json": meta, f"/m/{OPENDR_MODEL}.pt": weights}
    with serve(Site(files=files)) as site:
        proc = run_cli("download", tmp_path / "opendr_ia", "--no-progress", env={URL_ENV: f"{site.url}/m/"})
    assert proc.returncode == 0, proc.stderr

    prefix = "/dl"
    params = write_params(tmp_path, "dl", model_path=str(tmp_path / "opendr_ia"), image_topic=f"{prefix}/cam",
                          audio_topic=f"{prefix}/audio", output_topic=f"{prefix}/emotion",
                          diagnostics_topic=f"{prefix}/diagnostics", diagnostics_period=0.2)
    log = tmp_path / "node.log"
    listener = Listener(prefix)
    node = start_node(ros_env, params, log)
    try:
        listener.wait_for(lambda: "face_detector" in listener.diagnostics, START_TIMEOUT, node, log,
                          "diagnostics")
        text = log.read_text()
        assert ("crops 224 px (mtcnn) [image_size, face_detector from the model]" in text
                and "fusion ia, 8 classes" in text), text
        assert (listener.diagnostics["face_detector"], listener.diagnostics["image_size"]) == ("mtcnn", "224")
    finally:
        code = stop_node(node)
        listener.close()
    assert code == 0, log.read_text()
