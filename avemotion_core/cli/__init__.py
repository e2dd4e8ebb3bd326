"""``avemotion``: the offline command-line tool (generate, preprocess, train, eval, infer, export,
bag-from-clip, replay, download, fetch-ravdess).

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
heavy imports (torch, rosbags) happen inside ``run`` so ``--help`` answers instantly. Expected
failures print one line and exit 1 (2 for a wrong command line); only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence

from avemotion_core.cli import (
    bag,
    download,
    evaluate,
    export,
    fetch_ravdess,
    generate,
    infer,
    preprocess,
    replay,
    train,
)
from avemotion_core.cli.common import CliError

SUBCOMMANDS = (generate, preprocess, train, evaluate, infer, export, bag, replay, download, fetch_ravdess)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="avemotion", description="Audiovisual emotion recognition tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers = {}
    for module in SUBCOMMANDS:
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
        parsers[p.prog.split()[-1]] = p
    return parser, parsers


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Library exceptions that describe bad input, not bugs.

    Only modules the subcommand actually imported can have raised, so nothing is imported here
    (``synth`` needs soundfile, ``dataset`` torch: a subcommand must not depend on them for nothing).
    """
    found: list[type[BaseException]] = [CliError, ValueError, OSError]
    for module, names in (
        ("avemotion_core.data.dataset", ("DatasetError",)),
        ("avemotion_core.fileio", ("ModelFileError", "DownloadError")),
        ("avemotion_core.data.synth", ("SynthError",)),
    ):
        if module in sys.modules:
            found += [getattr(sys.modules[module], name) for name in names]
    return tuple(found)


def _unrecognized(extras: Sequence[str], sub: argparse.ArgumentParser) -> str:
    """argparse's message for unknown arguments, plus the closest option of the subcommand."""
    known = [o for action in sub._actions for o in action.option_strings if o.startswith("--")]
    hints = []
    for flag in (x.split("=", 1)[0] for x in extras if x.startswith("--")):
        hints += [f"{flag} -> {m}" for m in difflib.get_close_matches(flag, known, n=1)]
    hint = f" (did you mean: {', '.join(hints)}?)" if hints else ""
    return f"unrecognized arguments: {' '.join(extras)}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = build_parser()
    # Unknown flags are reported by the subcommand's parser, so the usage printed with the error
    # is the one that lists the flags the user was looking for (the top-level one lists none).
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = parsers[args.command]
        sub.error(_unrecognized(extras, sub))
    try:
        command = args.command
        if getattr(args, "recipe", None) is not None:  # recipe < --config < flags on the command line
            from avemotion_core.cli.recipes import apply_recipe

            args = apply_recipe(parsers[command], args, argv[argv.index(command) + 1 :])
            args.command = command
        if getattr(args, "config", None) is not None:
            from avemotion_core.cli.common import apply_config

            args = apply_config(parsers[command], args, argv[argv.index(command) + 1 :])
            args.command = command
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"avemotion {args.command}: interrupted", file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        code = getattr(exc, "exit_code", 1)
        msg = str(exc) or type(exc).__name__
        print(f"avemotion {args.command}: error: {msg}", file=sys.stderr)
        return code
