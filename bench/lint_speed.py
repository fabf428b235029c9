"""Issue #14 figures: `watoto-schema lint` on 200 migration files (the many-migrations
benchmark's files, after the 7 shipped ones), in process and as a whole process, against
squawk (`squawk-cli` from PyPI, installed into a folder of its own under /tmp, never into the
project's environment) on the same files; then both tools' precision and recall on the
corpus of tests/lint/ (each case labelled unsafe or safe by its `-- expect:` lines).

No database needed. Without network access to PyPI the squawk columns are skipped.

    make bench            # or: .venv/bin/python bench/lint_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common import BIN, median_ms, row
from many_migrations_speed import generate

from watoto_schema.lint import lint_files, lint_migrations
from watoto_schema.sources import migration_dirs

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "lint"
SQUAWK_HOME = Path(tempfile.gettempdir()) / "watoto-bench-squawk"
# squawk rules about what our engine already guarantees for every migration: it sets
# lock_timeout and statement_timeout itself, and runs each migration atomically (or
# resumably), so re-runnable `IF NOT EXISTS` statements are moot.
MOOT = {"prefer-robust-stmts", "require-timeout-settings", "require-lock-timeout",
        "require-statement-timeout"}


def squawk() -> Path | None:
    """squawk's binary, installed once into a venv of its own; None if it cannot be had."""
    binary = SQUAWK_HOME / "bin" / "squawk"
    if binary.exists():
        return binary
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SQUAWK_HOME)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(SQUAWK_HOME / "bin" / "pip"), "install", "-q", "squawk-cli"],
                       check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  (squawk comparison skipped: squawk-cli could not be installed: {exc})")
        return None
    return binary if binary.exists() else None


def wall(cmd: Sequence[str], ok: tuple[int, ...] = (0, 1, 2)) -> float:
    """Seconds of one whole process; exit statuses in ``ok`` (findings) are fine."""
    started = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"benchmark command failed: {cmd[0]}: {proc.stderr.strip()[-400:]}")
    return elapsed


def in_process(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def label(case: Path) -> bool | None:
    """Whether a corpus case is unsafe (it expects at least one finding); None for a case
    that uses our `-- lint: allow` comments (squawk has its own syntax for that): left out
    of the comparison."""
    text = case.read_text()
    if "-- lint: allow" in text:
        return None
    return "-- expect: clean" not in text


def squawk_flags(binary: Path, cases: list[Path], moot: bool) -> dict[Path, set[str]]:
    """The rules squawk reports per case; transactional cases run with
    --assume-in-transaction, as our engine wraps them in a transaction."""
    flags: dict[Path, set[str]] = {c: set() for c in cases}
    groups = {True: [c for c in cases if "-- transactional: false" not in c.read_text()],
              False: [c for c in cases if "-- transactional: false" in c.read_text()]}
    for in_transaction, group in groups.items():
        if not group:
            continue
        cmd = [str(binary), "--reporter", "json", *(["--assume-in-transaction"]
                                                    if in_transaction else []),
               *map(str, group)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        for item in json.loads(proc.stdout or "[]"):
            if moot and item["rule_name"] in MOOT:
                continue
            flags[Path(item["file"]).resolve()].add(item["rule_name"])
    return flags


def scores(unsafe: dict[Path, bool], flagged: dict[Path, bool]) -> str:
    """Per case: an unsafe case flagged is a true positive, a safe case flagged a false one."""
    tp = sum(unsafe[c] and flagged[c] for c in unsafe)
    fp = sum(not unsafe[c] and flagged[c] for c in unsafe)
    fn = sum(unsafe[c] and not flagged[c] for c in unsafe)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return (f"precision {precision:5.1%}  recall {recall:5.1%}  "
            f"(caught {tp} of {tp + fn} unsafe cases; flagged {fp} safe ones)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    folder = Path(tempfile.mkdtemp(prefix="watoto-bench-lint-"))
    generate(folder)
    files = sorted(p for p in folder.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    dirs = migration_dirs([folder])
    binary = squawk()

    ours_lib, ours_cli, startup, theirs = [], [], [], []
    cli = str(BIN / "watoto-schema")
    report = lint_migrations(dirs)
    for _ in range(rounds):
        ours_lib.append(in_process(lambda: lint_migrations(dirs)))
        ours_cli.append(wall([cli, "--json", "--migrations", str(folder), "lint", "--all"]))
        startup.append(wall([cli, "--version"]))
        if binary is not None:
            theirs.append(wall([str(binary), "--reporter", "json", *map(str, files)]))
    reference = median_ms(theirs) if theirs else None
    print(f"lint of {len(files)} generated migrations + 7 shipped (every file read for "
          f"context), median of {rounds} rounds; {len(report.errors)} error(s), "
          f"{len(report.warnings)} warning(s) found; ratios against squawk")
    if reference is not None:
        print(row(f"squawk ({len(files)} files, json)", reference, reference, "reference"))
    print(row("watoto-schema lint --all (whole process)", median_ms(ours_cli), reference,
              "target <= 1000 ms"))
    print(row("lint_migrations() in process", median_ms(ours_lib), reference))
    print(row("watoto-schema --version (process floor)", median_ms(startup), reference))

    labels = {c.resolve(): label(c) for c in CORPUS.glob("*.sql")}
    unsafe = {c: flag for c, flag in sorted(labels.items()) if flag is not None}
    cases = list(unsafe)
    ours = {c: bool(lint_files([c], migration_dirs()).findings) for c in cases}
    print(f"\ncorpus tests/lint/: {len(cases)} cases, {sum(unsafe.values())} unsafe, "
          f"{len(cases) - sum(unsafe.values())} safe (labels are the corpus's own)")
    print(f"  watoto-schema lint              {scores(unsafe, ours)}")
    if binary is None:
        return
    for moot, name in ((False, "squawk (defaults)"),
                       (True, "squawk (without moot rules)")):
        flags = squawk_flags(binary, cases, moot)
        print(f"  {name:<31} {scores(unsafe, {c: bool(flags[c]) for c in cases})}")
    flags = squawk_flags(binary, cases, True)
    missed = [c.stem for c in cases if unsafe[c] and flags[c] and not ours[c]]
    print(f"  unsafe cases squawk catches and we miss: {', '.join(missed) or 'none'}")
    only_ours = [c.stem for c in cases if unsafe[c] and ours[c] and not flags[c]]
    print(f"  unsafe cases only we catch ({len(only_ours)}): {', '.join(only_ours)}")
    false = [f"{c.stem} ({', '.join(sorted(flags[c]))})" for c in cases
             if not unsafe[c] and flags[c]]
    print(f"  safe cases squawk flags ({len(false)}): {', '.join(false)}")
    if os.environ.get("WATOTO_BENCH_KEEP") is None:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
