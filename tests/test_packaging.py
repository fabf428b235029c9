"""The installed command finds its migrations and SQL from any working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import watoto_schema
from watoto_schema.resources import data_dir
from watoto_schema.target import Target

from .test_migrations import SHIPPED


def test_installed_wheel_carries_migrations_and_sql() -> None:
    package = Path(watoto_schema.__file__).resolve().parent
    if "site-packages" not in package.parts:
        return  # a source checkout: `make test` runs against `pip install .` instead
    for name in ("migrations", "sql"):
        assert data_dir(name).is_relative_to(package), name
        assert any(data_dir(name).rglob("*.sql")), name


def test_console_script_works_from_another_directory(empty_db: Target, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "watoto-schema"
    result = subprocess.run([str(script), "--dsn", empty_db.conninfo, "--json", "status"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    versions = [v["version"] for v in json.loads(result.stdout)["versions"]]
    assert versions == SHIPPED
