"""The list of clips preprocessing skipped, kept next to the feature cache (issue 14 item 14).

Why a file: one corrupt clip in a 1,440-clip dataset used to make ``preprocess`` exit 1 and
``train``/``eval`` refuse the whole folder until the file was removed. Now the clip is skipped and
named here; the loader leaves out exactly the clips listed (matched by their cache file name,
which changes when a source file is replaced, so a fixed clip is never silently left out), while
a clip missing from the cache for any other reason is still an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from avemotion_core.fileio import atomic_write_bytes

REPORT_NAME = "skipped.json"


def write_skipped(cache: Path, skipped: list[dict[str, str | None]]) -> Path:
    """Replace the report of ``cache`` with ``skipped`` (``video``, ``audio``, ``cache_file``,
    ``reason`` per clip; an empty list when nothing was skipped), atomically."""
    path = cache / REPORT_NAME
    atomic_write_bytes(path, (json.dumps({"skipped": skipped}, indent=1) + "\n").encode())
    return path


def read_skipped(cache: Path) -> dict[str, dict[str, str | None]]:
    """The skipped clips of ``cache`` by cache file name; empty when there is no readable report
    (a damaged report then leaves nothing out, and the missing clips are reported as today)."""
    try:
        entries = json.loads((cache / REPORT_NAME).read_text())["skipped"]
        return {e["cache_file"]: e for e in entries if isinstance(e, dict) and "cache_file" in e}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
