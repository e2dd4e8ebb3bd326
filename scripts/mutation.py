"""Mutation testing (cosmic-ray) of the modules whose tests must bite: ``make mutation``.

    .venv/bin/python scripts/mutation.py [MODULE ...]     # default: all of MODULES
    .venv/bin/python scripts/mutation.py --list           # the modules and their test selections

For each module, cosmic-ray mutates the source one change at a time (operators swapped, numbers
changed, conditions negated, ...) and runs only that module's fast tests (``MODULES`` below): a
mutant the tests still pass "survived". Cosmic-ray edits files in place, so every run works on a
private copy of the work tree under ``.cache/mutation/<module>/tree`` (the copy's package shadows
the editable install through PYTHONPATH); the shared work tree is never touched. Results: a summary
line per module here, the surviving mutants with their diffs in
``.cache/mutation/<module>/survivors.txt`` and the session database beside it (``cr-report`` and
``cr-html`` read it). Not part of ``make test``/CI.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / ".cache" / "mutation"  # .cache/ is git-ignored

# test_stream.py's decision tests (lattice, clock, scheduler: ~3 s); its four tests that run the model
# or the face cropper over real frames take ~4 min on 2 cores and add nothing on these modules' logic
STREAM_FAST = ["test/test_stream.py", *(f"--deselect=test/test_stream.py::{name}" for name in (
    "test_head_over_cached_features_equals_the_full_model",
    "test_each_lattice_frame_is_cropped_and_encoded_once",
    "test_windows_without_a_face_run_onlyaudio_and_degenerate_frames_are_missing",
    "test_a_window_waiting_for_late_audio_keeps_all_its_frames"))]
# module -> (source file, fast tests that should kill its mutants, functions to mutate (None = all))
MODULES: dict[str, tuple[str, list[str], list[str] | None]] = {
    "messages": ("avemotion_core/stream/messages.py",
                 ["test/test_decode_reference.py", "test/test_convert.py"], None),
    # the Haar detector's own tests (astronaut, LFW: a third of the time) exercise haar.py, not the cropper
    "faces": ("avemotion_core/faces/cropper.py",
              ["test/test_face_policy.py", "test/test_faces.py",
               "--deselect", "test/test_faces.py::test_finds_the_astronaut_face",
               "--deselect", "test/test_faces.py::test_lfw_faces_found_and_non_faces_rejected"], None),
    "faces_box": ("avemotion_core/faces/box.py", ["test/test_face_policy.py", "test/test_faces.py"], None),
    "faces_haar": ("avemotion_core/faces/haar.py", ["test/test_faces.py", "test/test_face_policy.py"], None),
    "window": ("avemotion_core/window.py", ["test/test_window.py", "test/test_window_contract.py"], None),
    "stream_clock": ("avemotion_core/stream/clock.py", STREAM_FAST, None),
    "stream_lattice": ("avemotion_core/stream/lattice.py", STREAM_FAST, None),
    "stream_scheduler": ("avemotion_core/stream/scheduler.py", STREAM_FAST, None),
    "replay_scoring": ("avemotion_core/cli/replay.py", ["test/test_replay_scoring.py"],
                       ["read_labels", "label_at", "_score"]),
}
TIMEOUT_FACTOR, TIMEOUT_MIN = 4.0, 30.0  # a mutant slower than this x the clean run counts as killed
# Cosmic-ray swaps each binary operator for all 11 others and each comparison for all others; a test
# that catches one swap at a site nearly always catches the rest, so each site keeps the two most
# telling swaps (the boundary one first), which keeps a module under ~30 min on 2 cores.
KEEP_PER_SITE = 2
RECHECK_HOLD = "not run yet (held back during --recheck)"
PREFERRED = {"Eq": ["NotEq", "Lt"], "NotEq": ["Eq", "Gt"], "Lt": ["LtE", "GtE"], "LtE": ["Lt", "Gt"],
             "Gt": ["GtE", "LtE"], "GtE": ["Gt", "Lt"], "Is": ["IsNot"], "IsNot": ["Is"], "In": ["NotIn"],
             "NotIn": ["In"], "Add": ["Sub", "Mul"], "Sub": ["Add", "Mul"], "Mul": ["Div", "Add"],
             "Div": ["Mul", "FloorDiv"], "FloorDiv": ["Div", "Mul"], "Mod": ["FloorDiv", "Add"],
             "Pow": ["Mul", "Add"], "BitOr": ["BitAnd", "BitXor"], "BitAnd": ["BitOr", "BitXor"],
             "BitXor": ["BitOr", "BitAnd"], "LShift": ["RShift", "Mul"], "RShift": ["LShift", "FloorDiv"]}


def copy_tree(dest: Path) -> None:
    """The work tree's tracked and untracked (not ignored) files, plus links to .build and .venv."""
    if dest.exists():
        shutil.rmtree(dest)
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for link in (".build", ".venv"):
        if (ROOT / link).exists():
            (dest / link).symlink_to(ROOT / link)


def function_lines(source: Path, names: list[str]) -> list[str]:
    """'first-last' line ranges of the named top-level functions."""
    tree = ast.parse(source.read_text())
    found = {n.name: f"{n.lineno}-{n.end_lineno}" for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = sorted(set(names) - set(found))
    if missing:
        raise SystemExit(f"{source}: no top-level function {missing}")
    return [found[n] for n in names]


def annotation_spans(source: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every type annotation: with ``from __future__ import annotations``
    they are never evaluated, so mutating them (``str | None`` -> ``str + None``) changes nothing."""
    spans = []
    for node in ast.walk(ast.parse(source.read_text())):
        found = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            found = [node.returns] + [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs,
                                                             a.vararg, a.kwarg) if x is not None]
        elif isinstance(node, ast.AnnAssign):
            found = [node.annotation]
        spans += [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset))
                  for n in found if n is not None]
    return spans


def thin(db_path: Path, source: Path) -> None:
    """Skip mutants inside type annotations, all but KEEP_PER_SITE operator swaps per site and one of
    the two number changes (n+1, n-1) per literal."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_spans(source)
    with use_db(str(db_path), WorkDB.Mode.open) as db:
        sites: dict[tuple, list[tuple[int, str]]] = {}
        for item in db.pending_work_items:
            (m,) = item.mutations
            pos = tuple(m.start_pos)
            if any(a <= pos < b for a, b in spans):
                db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, "type annotation"))
                continue
            family, _, target = m.operator_name.rpartition("_")
            if "ReplaceBinaryOperator_" in m.operator_name or "ReplaceComparisonOperator_" in m.operator_name:
                prefs = PREFERRED.get(family.rpartition("_")[2], [])
                rank = prefs.index(target) if target in prefs else len(prefs)
                sites.setdefault((family, pos), []).append((rank, target, item.job_id))
            elif m.operator_name == "core/NumberReplacer":  # n + 1 and n - 1: one of them
                sites.setdefault(("number", pos), []).append((m.occurrence, "", item.job_id))
        for (family, _), options in sites.items():
            keep = 1 if family == "number" else KEEP_PER_SITE
            for _, _, job_id in sorted(options)[keep:]:
                db.set_result(job_id, WorkResult(WorkerOutcome.SKIPPED, "thinned: other swaps here run"))


def run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}); see {log}")


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT worker_outcome, test_outcome, COUNT(*) FROM work_results "
                           "GROUP BY worker_outcome, test_outcome").fetchall()
        total = con.execute("SELECT COUNT(*) FROM work_items").fetchone()[0]
    out = {"total": total, "killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "other": 0,
           "pending": total - sum(n for _, _, n in rows)}
    for worker, test, n in rows:  # SQLAlchemy stores the enum names (SKIPPED, KILLED, ...)
        worker, test = str(worker).lower(), str(test).lower()
        if worker == "skipped":
            out["skipped"] += n
        elif test in ("killed", "survived", "incompetent"):
            out[test] += n
        else:
            out["other"] += n
    return out


def survivors(db: Path) -> str:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT m.start_pos_row, m.operator_name, r.diff FROM work_results r "
            "JOIN mutation_specs m ON m.job_id = r.job_id WHERE lower(r.test_outcome) = 'survived' "
            "ORDER BY m.start_pos_row").fetchall()
    return "\n".join(f"--- line {line}: {op}\n{diff}" for line, op, diff in rows)


def mutate(name: str, recheck: bool = False, resume: bool = False) -> dict[str, float]:
    """Mutation-test one module; ``recheck``: only re-run the last session's survivors against the
    current tests (after adding tests that should kill them); ``resume``: run the mutants an
    interrupted session has not run yet."""
    source, tests, functions = MODULES[name]
    work = OUT / name
    tree = work / "tree"
    db = work / "session.sqlite"
    if (recheck or resume) and not db.is_file():
        raise SystemExit(f"--recheck/--resume {name}: no earlier session in {work}")
    work.mkdir(parents=True, exist_ok=True)
    log = work / "cosmic-ray.log"
    log.write_text("")
    copy_tree(tree)
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    pytest = [str(BIN / "python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.monotonic()
    subprocess.run(pytest, cwd=tree, env=env, check=True, capture_output=True)  # clean run must pass
    clean = time.monotonic() - t0
    config = work / "config.toml"
    lines = ""
    if functions:
        ranges = ", ".join(f'"{r}"' for r in function_lines(tree / source, functions))
        lines = f'\n[cosmic-ray.filters.line-filter]\nlines = {{ "{source}" = [{ranges}] }}\n'
    config.write_text(
        f'[cosmic-ray]\nmodule-path = "{source}"\ntimeout = {max(TIMEOUT_MIN, TIMEOUT_FACTOR * clean):.0f}\n'
        f'excluded-modules = []\ntest-command = "{" ".join(pytest)}"\n\n'
        f'[cosmic-ray.distributor]\nname = "local"\n{lines}')
    if recheck:  # only the survivors run again; mutants never run (an interrupted session) stay pending
        from cosmic_ray.work_db import WorkDB, use_db
        from cosmic_ray.work_item import WorkerOutcome, WorkResult

        with use_db(str(db), WorkDB.Mode.open) as wdb:
            for item in wdb.pending_work_items:
                wdb.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, RECHECK_HOLD))
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM work_results WHERE lower(test_outcome) = 'survived'")
        try:
            c = _execute(name, work, tree, config, db, env, log, t0)
        finally:
            with sqlite3.connect(db) as con:
                con.execute("DELETE FROM work_results WHERE output = ?", (RECHECK_HOLD,))
        return {**c, **counts(db)}
    if resume:
        return _execute(name, work, tree, config, db, env, log, t0)
    db.unlink(missing_ok=True)
    run([str(BIN / "cosmic-ray"), "init", str(config), str(db)], tree, env, log)
    if functions:
        run([str(BIN / "cr-filter-lines"), "--config", str(config), str(db)], tree, env, log)
    thin(db, tree / source)
    return _execute(name, work, tree, config, db, env, log, t0)


def _execute(name, work, tree, config, db, env, log, t0) -> dict[str, float]:
    run([str(BIN / "cosmic-ray"), "exec", str(config), str(db)], tree, env, log)
    c = counts(db)
    (work / "survivors.txt").write_text(survivors(db) + "\n")
    tested = c["killed"] + c["survived"]
    c["score"] = 100.0 * c["killed"] / tested if tested else float("nan")
    c["minutes"] = (time.monotonic() - t0) / 60
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", choices=[*MODULES, []], help="default: all")
    ap.add_argument("--list", action="store_true", help="print the modules and their tests")
    ap.add_argument("--recheck", action="store_true",
                    help="re-run only the previous session's surviving mutants against the current tests")
    ap.add_argument("--resume", action="store_true", help="run the mutants an interrupted session left")
    args = ap.parse_args()
    if args.list:
        for name, (source, tests, functions) in MODULES.items():
            print(f"{name}: {source}{' ' + str(functions) if functions else ''} <- {' '.join(tests)}")
        return 0
    for name in args.modules or list(MODULES):
        c = mutate(name, args.recheck, args.resume)
        print(f"{name}: {c['score']:.1f} % killed ({c['killed']} killed, {c['survived']} survived, "
              f"{c['incompetent']} incompetent, {c['skipped']} skipped, {c['other']} other, "
              f"{c['pending']} not run yet; "
              f"{c['total']} mutants, {c['minutes']:.1f} min); survivors: {OUT / name / 'survivors.txt'}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
