"""``avemotion fetch-ravdess``: download, verify and unpack RAVDESS speech (the paper's data) from Zenodo.

The licence is printed on every run and must be accepted explicitly: RAVDESS is CC BY-NC-SA 4.0,
so a robot company cannot silently end up training on it. Exit 0 only when every requested actor
has all its files; otherwise the missing ones are listed (exit 1) and running again completes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avemotion_core.cli.common import CliError, UsageError
from avemotion_core.cli.data_args import actor_list


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from avemotion_core.data.ravdess_fetch import RECORD, URL_ENV

    p = sub.add_parser(
        "fetch-ravdess",
        help="download RAVDESS speech (24.8 GB) from Zenodo into Actor_XX folders",
        description=f"Fetch the RAVDESS speech video zips (Zenodo record {RECORD}) and, with --audio, "
        "the audio-only zip; resume interrupted transfers, check each zip's MD5, unpack into the "
        "Actor_XX/ layout that preprocess/train read, and check every expected file is there. "
        f"The server is zenodo.org unless --base-url or ${URL_ENV} names another.",
    )
    p.add_argument("out", help="dataset folder (Actor_XX/ folders are created inside)")
    p.add_argument("--accept-license", action="store_true",
                   help="accept RAVDESS's CC BY-NC-SA 4.0 licence (non-commercial; required)")
    p.add_argument("--actors", type=actor_list, default=None, help="e.g. 1,2 (default: all 24)")
    p.add_argument("--audio", action="store_true",
                   help="also fetch Audio_Speech_Actors_01-24.zip (03-*.wav; the paper's audio input)")
    p.add_argument("--base-url", default=None, help=f"Zenodo server (default: ${URL_ENV} or https://zenodo.org)")
    p.add_argument("--keep-zips", action="store_true", help="keep the zips in OUT/.downloads after unpacking")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion_core.data.ravdess_fetch import ACTORS, LICENSE, fetch_ravdess, modalities, speech_names

    print(LICENSE, file=sys.stderr)
    if not args.accept_license:
        raise UsageError("pass --accept-license to confirm you will use RAVDESS under these terms")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    actors = sorted(set(args.actors or ACTORS))
    report = fetch_ravdess(out, actors, args.audio, args.base_url, args.keep_zips, not args.no_progress,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    if report.missing:
        lines = [f"Actor_{a:02d}: {len(m)} missing ({', '.join(m[:3])}{' ...' if len(m) > 3 else ''})"
                 for a, m in sorted(report.missing.items())]
        raise CliError(f"{len(report.missing)} of {len(actors)} actors incomplete in {out} "
                       "(run again to fetch them):\n  " + "\n  ".join(lines))
    per_actor = sum(len(speech_names(1, m)) for m in modalities(args.audio))
    skipped = f"; {len(report.skipped)} zip(s) already unpacked" if report.skipped else ""
    print(f"RAVDESS speech in {out}: {len(actors)} actor(s) complete, {per_actor} files each "
          f"({report.unpacked} unpacked now from {len(report.fetched)} zip(s){skipped})")
    if not args.audio:
        print("no 03-*.wav audio (add --audio): the loader then takes the sound from the 01 mp4s")
    return 0
