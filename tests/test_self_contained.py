"""The repository stands on its own: no file points outside it, every doc link resolves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Spelled in two parts so that this file does not match itself.
OUTSIDE = ("../" + "shared/").encode()
NOTES = ("NOTES" + ".md").encode()  # the field notes that lived beside the repository
SKIP_DIRS = {".git", ".venv", ".watoto", "__pycache__", ".pytest_cache", ".mypy_cache",
             ".ruff_cache", "build", "dist"}

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
REPO_PATH = re.compile(r"`((?:migrations|sql|src|tests|docs|bench|deploy|\.ci)/[^`\s]*)`")


def _repository_files() -> list[Path]:
    """Tracked files plus new ones not ignored; a plain walk where git is unavailable."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", markdown.read_text())
    return {re.sub(r"[^\w\- ]", "", h.replace("`", "").lower()).replace(" ", "-")
            for h in HEADING.findall(text)}


def test_no_file_points_outside_the_repository() -> None:
    files = _repository_files()
    assert len(files) > 50, "the file listing looks wrong"
    needles = [OUTSIDE] + ([] if (ROOT / NOTES.decode()).exists() else [NOTES])
    offenders = [f"{f.relative_to(ROOT)}: {needle.decode()}"
                 for f in files for needle in needles if needle in f.read_bytes()]
    assert not offenders, ("files refer to what a clone does not have (say it in "
                           f"docs/design.md or docs/decisions/ instead): {offenders}")


def test_every_relative_link_in_the_docs_resolves() -> None:
    broken = []
    for md in _markdown_files():
        for target in LINK.findall(FENCE.sub("", md.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            dest = (md.parent / path_part).resolve() if path_part else md
            where = f"{md.relative_to(ROOT)}: ({target})"
            if not dest.is_relative_to(ROOT):
                broken.append(f"{where} leaves the repository")
            elif not dest.exists():
                broken.append(f"{where} does not exist")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{where} names no heading of {dest.name}")
    assert not broken, broken


def test_paths_named_in_the_design_exist() -> None:
    design = ROOT / "docs" / "design.md"
    named = REPO_PATH.findall(FENCE.sub("", design.read_text()))
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not missing, f"docs/design.md names paths that do not exist: {missing}"
