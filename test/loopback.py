"""A loopback HTTP server standing in for OpenDR's model server and Zenodo in the download tests.

It serves in-memory files with HTTP Range support (206 / 416, as real servers do) and can be told
to misbehave once per file the way networks do: cut a transfer after N bytes, or serve the bytes
with one of them flipped. Every request is logged with its Range header, so a test can show
that a rerun resumed instead of starting again. Helpers build what the real servers hold: an
OpenDR-layout model (``<name>.json`` + ``<name>.pt``) and RAVDESS-format zips with a Zenodo
record listing (key, size, md5, links).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tempfile
import threading
import wave
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from avemotion_core.data.ravdess_fetch import AUDIO_ZIP, RECORD, speech_names, video_zip
from avemotion_core.media.video import probe_video, read_frames, write_video


@dataclass
class Site:
    """What the server serves and how it misbehaves; ``url`` is set once it listens."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the cut (once)
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte flipped (once)
    ignore_range: bool = False  # answer every GET with the whole file (200), as some servers do
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    url: str = ""


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            site.requests.append((path, self.headers.get("Range")))
            body = site.files.get(path)
            if body is None:
                self.send_error(404)
                return
            if path in site.corrupt:
                site.corrupt.discard(path)
                body = body[:-1] + bytes([body[-1] ^ 0xFF])
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and ranged.endswith("-") and not site.ignore_range:
                start = int(ranged[6:-1])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut = site.cut_after.pop(path, None)
            self.wfile.write(body[start:] if cut is None else body[start : start + cut])
            if cut is not None:
                self.close_connection = True

    return Handler


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    """Run ``site`` on 127.0.0.1 (a free port) in a thread for the duration of the block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def opendr_model(fusion: str = "ia") -> tuple[bytes, bytes]:
    """(``<name>.json``, ``<name>.pt``) as OpenDR's ``save()`` writes them: a torch.save'd
    state_dict of a ``MultiModalCNN`` and metadata that records no fusion, labels or crop size."""
    import torch

    from avemotion_core.learner import AudiovisualEmotionLearner

    learner = AudiovisualEmotionLearner(fusion=fusion, n_workers=0)
    buf = io.BytesIO()
    torch.save(learner.model.state_dict(), buf)
    meta = {"framework": "pytorch", "model_paths": ["model_weights.pt"], "format": "pt", "has_data": False,
            "inference_params": {}, "optimized": False, "optimimizer_info": {}}
    return json.dumps(meta).encode(), buf.getvalue()


def ravdess_zip(actors: list[int], modality_codes: tuple[int, ...], media: dict[str, bytes],
                drop: int = 0) -> bytes:
    """A zip laid out as RAVDESS's (``Actor_NN/<name>``) holding every speech file of ``actors``
    in ``modality_codes``, each with the bytes of a generated clip (``media['mp4'|'wav']``);
    ``drop`` leaves out that many files, as a damaged upload would."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        names = sorted(n for a in actors for m in modality_codes for n in speech_names(a, m))
        for name in names[drop:]:
            zf.writestr(f"Actor_{int(name[-6:-4]):02d}/{name}", media[name[-3:]])
    return buf.getvalue()


def zenodo_site(actors: list[int], media: dict[str, bytes], drop: int = 0) -> Site:
    """A Site holding the video zips of ``actors``, the audio zip (of the same actors) and the
    record listing; ``links`` are filled in by ``publish_record`` once the port is known."""
    site = Site()
    for a in actors:
        site.files[f"/files/{video_zip(a)}"] = ravdess_zip([a], (1, 2), media, drop if a == actors[0] else 0)
    site.files[f"/files/{AUDIO_ZIP}"] = ravdess_zip(actors, (3,), media)
    return site


def publish_record(site: Site) -> None:
    """Add ``/api/records/<id>`` listing the site's zips as Zenodo does (call after ``serve``)."""
    entries = [{"key": path.rsplit("/", 1)[1], "size": len(body),
                "checksum": "md5:" + hashlib.md5(body).hexdigest(), "links": {"self": f"{site.url}{path}"}}
               for path, body in site.files.items() if path.startswith("/files/")]
    site.files[f"/api/records/{RECORD}"] = json.dumps({"id": int(RECORD), "files": entries}).encode()


def clip_media(dataset: Path, wav_seconds: float = 0.5, video_frames: int = 30) -> dict[str, bytes]:
    """The first ``video_frames`` of one generated mp4 of a RAVDESS-format dataset and the first
    ``wav_seconds`` of one of its wavs (still valid files, enough for a window's 15 frames; 120
    full ones would make a 40 MB test zip, and every take is preprocessed in the README test)."""
    with wave.open(str(next(dataset.rglob("03-*.wav"))), "rb") as src:
        params = src.getparams()
        frames = src.readframes(int(src.getframerate() * wav_seconds))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as dst:
        dst.setparams(params)
        dst.writeframes(frames)
    source = next(dataset.rglob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp:
        short = Path(tmp) / "short.mp4"
        write_video(short, read_frames(source, range(video_frames)), probe_video(source).fps)
        mp4 = short.read_bytes()
    return {"mp4": mp4, "wav": buf.getvalue()}
