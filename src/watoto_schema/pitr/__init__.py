"""Point-in-time recovery (#11): judge WAL archiving (``check``), set it up safely with
basic_archive (``setup``), take base backups (``backup``) and prove a restore to a point in
time in a scratch server (``drill``). See docs/pitr.md."""

from .backup import BaseBackup, base_backup
from .check import CheckReport, Finding, check, judge_archive_command
from .drill import DrillReport, drill
from .setup import SetupPlan, plan

__all__ = ["BaseBackup", "CheckReport", "DrillReport", "Finding", "SetupPlan", "base_backup",
           "check", "drill", "judge_archive_command", "plan"]
