"""How sizes read in every report: one formatter, so a size looks the same everywhere."""

from __future__ import annotations

_UNITS = ("B", "kB", "MB", "GB", "TB")


def format_bytes(n: float | None, missing: str = "-") -> str:
    """``1536`` -> ``"1.5 kB"``; whole bytes below 1 kB; ``missing`` for None."""
    if n is None:
        return missing
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
