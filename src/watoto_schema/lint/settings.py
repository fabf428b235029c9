"""The rule levels of ``[lint]`` in ``watoto-schema.toml`` (light: the rules are imported
only to check a configured rule name)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadConfig

LEVELS = ("off", "warning", "error")


@dataclass(frozen=True)
class LintSettings:
    """Each rule's level when ``[lint]`` of ``watoto-schema.toml`` changes it."""

    levels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, values: dict[str, Any], source: str = "[lint]") -> LintSettings:
        """``rule = "off" | "warning" | "error"``; unknown rules and levels fail."""
        levels: dict[str, str] = {}
        if not values:
            return cls(levels)
        from .rules import RULES

        for rule, level in values.items():
            if rule not in RULES:
                raise BadConfig(f"{source}: unknown rule {rule!r} (see docs/lint.md)")
            if level not in LEVELS:
                raise BadConfig(f"{source}: {rule} = {level!r}: use one of "
                                f"{', '.join(repr(v) for v in LEVELS)}")
            levels[rule] = level
        return cls(levels)

    @property
    def key(self) -> str:
        """The levels as a stable string: part of a cached lint verdict's key."""
        return json.dumps(sorted(self.levels.items()))
