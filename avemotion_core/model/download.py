"""Installing a pretrained model directory from the network (``learner.download``, ``avemotion download``).

Why this exists: OpenDR publishes ``<name>.json`` + ``<name>.pt`` whose metadata says nothing about
how the weights must be fed (fusion, classes, crop size, face detector). Installed as-is, a node
would crop faces at the wrong size or with another detector and silently score at chance. So an
OpenDR download is completed here with what OpenDR's training used -- recorded in ``metadata.json``
together with the weights' SHA-256 -- and the node, ``infer``, ``eval`` and ``replay`` take those
values whenever their own settings are left at "from the model".
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from avemotion_core.download import Expected, disk_error, fetch
from avemotion_core.fileio import DownloadError, atomic_write_bytes
from avemotion_core.labels import EMOTIONS, IMAGE_SIZE, SEQ_LENGTH

OPENDR_URL = "ftp://opendrdata.csd.auth.gr/perception/multimodal_human_centric/audiovisual_emotion_learner/"
OPENDR_MODEL = "av_emotion_ia_zerodrop"
URL_ENV = "AVEMOTION_OPENDR_URL"  # overrides OPENDR_URL (a mirror; the tests' loopback server)
# How OpenDR's published RAVDESS models were trained: 224 px face crops cut by MTCNN (our
# avemotion_core.faces.mtcnn is a port of that detector), the 8 RAVDESS emotions in field order.
OPENDR_TRAINING = {"image_size": IMAGE_SIZE, "face_detector": "mtcnn", "num_class": len(EMOTIONS),
                   "labels": list(EMOTIONS), "seq_length": SEQ_LENGTH}


def default_url() -> str:
    return os.environ.get(URL_ENV) or OPENDR_URL


def fusion_of(model_name: str) -> str | None:
    """The fusion an OpenDR model name states (``av_emotion_ia_zerodrop`` -> ``ia``), else None."""
    match = re.search(r"(?:^|_)(ia|it|lt)(?:_|$)", model_name)
    return match.group(1) if match else None


def download_model(
    path: str | os.PathLike[str],
    url: str | None = None,
    model_name: str | None = OPENDR_MODEL,
    sha256: dict[str, str] | None = None,
    progress: bool = True,
    fusion: str | None = None,
) -> tuple[Path, dict[str, str]]:
    """Install a model directory at ``path``; return it and the SHA-256 of each file fetched.

    With ``model_name`` the OpenDR layout ``<url>/<model_name>.json`` + ``.pt`` is fetched and its
    metadata completed with :data:`OPENDR_TRAINING`, the fusion (``fusion`` or the one the name
    states) and the weights' SHA-256. With ``model_name=None`` ``url`` is a directory in our
    format: ``metadata.json`` first, then the weights it lists, checked against the SHA-256 it
    records. ``sha256`` maps local file names (``metadata.json``, ``model_weights.pt``...) to
    expected digests. The files appear in ``path`` only after all of them were fetched, verified
    and loaded as a model; nothing partial is left behind on failure.
    """
    # imported here: model_files needs torch, and `avemotion download --help` must answer instantly
    from avemotion_core.model.files import METADATA, OPENDR_WEIGHTS, load_model_dir, read_metadata

    root = Path(path)
    base = url or default_url()
    base = base if base.endswith("/") else base + "/"
    expected = dict(sha256 or {})
    if model_name is not None:
        fusion = fusion or fusion_of(model_name)
        if fusion is None:
            raise DownloadError(f"cannot tell the fusion of {model_name!r} from its name; give it "
                                "(ia, it or lt)")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging_dir = tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}.")
    except OSError as exc:
        raise disk_error(exc, root) from exc
    digests: dict[str, str] = {}

    def get(remote: str, local: str, recorded: str | None = None) -> None:
        want = expected.get(local, recorded)
        digests[local] = fetch(base + remote, stage / local, Expected(want), progress=progress)

    # Staged next to the target so the final os.replace stays on one file system.
    with staging_dir as staging:
        stage = Path(staging)
        if model_name is not None:
            get(f"{model_name}.json", METADATA)
            get(f"{model_name}.pt", OPENDR_WEIGHTS)
            meta = _complete_opendr(read_metadata(stage), fusion, OPENDR_WEIGHTS, digests[OPENDR_WEIGHTS],
                                    base + model_name)
            atomic_write_bytes(stage / METADATA, json.dumps(meta, indent=2).encode())
        else:
            get(METADATA, METADATA)
            meta = read_metadata(stage)
            for name in meta.get("model_paths") or []:
                local = Path(name).name
                get(local, local, (meta.get("sha256") or {}).get(local))
        load_model_dir(stage)  # refuse to install something that does not even parse
        root.mkdir(parents=True, exist_ok=True)
        for item in stage.iterdir():
            os.replace(item, root / item.name)
    return root, digests


def _complete_opendr(meta: dict[str, Any], fusion: str, weights: str, weights_sha256: str,
                     source: str) -> dict[str, Any]:
    """OpenDR's metadata plus what using the weights correctly needs (OpenDR's own values win)."""
    return {**OPENDR_TRAINING, "fusion": fusion, **meta, "model_paths": [weights],
            "sha256": {weights: weights_sha256}, "source": source}
