"""When a cron schedule next fires: the five fields of crontab(5) (minute, hour, day of
month, month, day of week) with ``*``, lists, ranges and steps, and the ``@hourly``,
``@daily``, ``@weekly``, ``@monthly`` shorthands. Enough to say when the maintenance job
of ``deploy/cron`` or a systemd timer's equivalent runs next; names of months and days
are not accepted (numbers are)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import BadConfig

_SHORTHANDS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
               "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
               "@annually": "0 0 1 1 *"}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = int(first), int(last)
        else:
            start = int(body)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return values


def parse(expression: str) -> tuple[set[int], ...]:
    """The five fields' allowed values; ``BadConfig`` for anything else."""
    text = _SHORTHANDS.get(expression.strip(), expression.strip())
    parts = text.split()
    try:
        if len(parts) != 5:
            raise ValueError(text)
        fields = tuple(_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True))
    except ValueError:
        raise BadConfig(f"not a cron schedule (five numeric fields or @daily...): "
                        f"{expression!r}") from None
    if 7 in fields[4]:  # Sunday is 0 or 7
        fields[4].add(0)
    return fields


def next_run(expression: str, after: datetime) -> datetime:
    """The first minute after ``after`` the schedule matches (cron's day rule: when both day
    of month and day of week are restricted, either matching is enough)."""
    minutes, hours, days, months, weekdays = parse(expression)
    day_any = len(days) == 31
    weekday_any = len(weekdays) >= 7
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = moment + timedelta(days=366 * 5)
    while moment < limit:
        weekday = (moment.weekday() + 1) % 7  # cron: 0 is Sunday
        if day_any or weekday_any:
            day_ok = moment.day in days and weekday in weekdays
        else:
            day_ok = moment.day in days or weekday in weekdays
        if moment.month not in months:
            moment = (moment.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
        elif not day_ok:
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
        elif moment.hour not in hours:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute not in minutes:
            moment += timedelta(minutes=1)
        else:
            return moment
    raise BadConfig(f"the cron schedule {expression!r} never fires")
