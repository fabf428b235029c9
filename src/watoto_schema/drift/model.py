"""What drift reports: the differences between the live and the expected schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Difference:
    """One way the live schema differs from the expected one."""

    object: str  # what the report groups by: a table, view, function, ...
    kind: str  # column, constraint, index, view definition, trigger, migration, ...
    name: str
    change: str  # missing | unexpected | different | renamed
    expected: str | None = None
    actual: str | None = None


@dataclass
class DriftReport:
    target: str
    expected_from: str  # how the expected schema was obtained
    versions: list[str]  # the applied versions it was built from
    differences: list[Difference] = field(default_factory=list)
    policy_partitions: list[str] = field(default_factory=list)  # extra, but per the policy
    # expected relations and what they are ("table", "partitioned table", "view", ...)
    relations: dict[str, str] = field(default_factory=dict, repr=False)
    # A standby that has not replayed the primary's position: its differences are its lag,
    # not drift (`drift --all-nodes`).
    behind_bytes: float | None = None
    # What the fix script needs besides the differences: both snapshots, and which views
    # of the live database read what (referenced object -> dependent views).
    expected_objects: list[Any] = field(default_factory=list, repr=False)
    actual_objects: list[Any] = field(default_factory=list, repr=False)
    dependents: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # Differences no script can resolve, with the reason (e.g. an extension version with
    # no downgrade path): reported, and `drift` exits 2 with them.
    unfixable: dict[str, str] = field(default_factory=dict)

    @property
    def in_sync(self) -> bool:
        return not self.differences

    @property
    def drifted(self) -> bool:
        """Differences that are drift (not a standby's replication lag)."""
        return bool(self.differences) and self.behind_bytes is None

    def as_dict(self) -> dict[str, Any]:
        internal = ("relations", "expected_objects", "actual_objects", "dependents")
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in internal}
        doc["differences"] = [asdict(d) for d in self.differences]
        doc["policy_partitions"] = list(self.policy_partitions)
        doc["unfixable"] = dict(self.unfixable)
        doc["in_sync"] = self.in_sync
        doc["drifted"] = self.drifted
        return doc
