"""Reference dates (never now()) and timestamps as COPY's text input reads them."""

from __future__ import annotations

from datetime import datetime, timedelta

_T0 = datetime(2023, 1, 1)
_DAY = 86_400
_HOUR = 3_600


def _sec(moment: datetime) -> int:
    return int((moment - _T0).total_seconds())


# Timestamps go to COPY as text: the ISO form of a day and of a time of day, looked up,
# costs a third of building a datetime and letting the driver format it (20 M values at
# national scale). 6,000 days from _T0 is more than the data ever spans.
_DAYS: tuple[str, ...] = tuple((_T0 + timedelta(days=d)).strftime("%Y-%m-%d ")
                               for d in range(6_000))
_TIMES_OF_DAY: tuple[str, ...] = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24)
                                       for m in range(60) for s in range(60))


def _ts(seconds: int) -> str:
    """The timestamp ``seconds`` after _T0, as PostgreSQL's text input reads it."""
    day, second = divmod(seconds, _DAY)
    return _DAYS[day] + _TIMES_OF_DAY[second]


REFERENCE_TIME = datetime(2026, 11, 1)  # "now" for the generated data
_REF = _sec(REFERENCE_TIME)
_STAFF_FROM, _STAFF_TO = _sec(datetime(2023, 5, 1)), _sec(datetime(2023, 8, 31))
_COURSES_FROM, _COURSES_TO = _sec(datetime(2023, 9, 1)), _sec(datetime(2023, 12, 10))
_STUDENTS_FROM, _STUDENTS_TO = _sec(datetime(2023, 12, 1)), _sec(datetime(2026, 10, 25))
_ENROLL_FROM, _ENROLL_TO = _sec(datetime(2024, 1, 1)), _sec(datetime(2026, 10, 31, 12))
