"""The rows of the first five tables, and the plan the server makes the other two from,
all from one ``random.Random``: the plan, then table by table."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .dates import (
    _COURSES_FROM,
    _COURSES_TO,
    _DAY,
    _DAYS,
    _ENROLL_FROM,
    _ENROLL_TO,
    _HOUR,
    _REF,
    _STAFF_FROM,
    _STAFF_TO,
    _STUDENTS_FROM,
    _STUDENTS_TO,
    _TIMES_OF_DAY,
    _ts,
)
from .vocabulary import (
    _ASSIGNMENT,
    _COMPLETED,
    _COURSES_PER_STUDENT,
    _DROP_NOTES,
    _DROPPED,
    _DURATIONS,
    _ENROLLED,
    _FINAL_PROJECT_SHARE,
    _GROWTH_EXPONENT,
    _IN_PROGRESS,
    _MAX_STUDENTS,
    _METHODOLOGIES,
    _MODULE_ASSESSMENT_SHARE,
    _MODULE_TYPES,
    _PACE_DAYS,
    _QUIZ,
    _READING,
    _STATUS_BY_AGE,
    _STATUSES,
    _SUPPORT_NOTES,
    _VIDEO,
    CATEGORIES,
    FIRST_NAMES,
    LAST_NAMES,
)


@dataclass(slots=True)
class _Course:
    grade: int
    category: int
    teacher: int
    max_students: int
    capacity: int
    n_modules: int
    focus: str
    on_demand: bool = False  # opened because the existing sections were full
    first_enrollment: int = 1 << 40
    created: int = 0
    enrolled: int = 0
    first_module: int = 0
    final_assessment: int = 0  # course-level assessment id (0: none)


@dataclass(slots=True)
class _Enrollment:
    id: int
    student: int
    course: int
    enrolled_at: int
    status: int = _ENROLLED
    done: int = 0  # modules completed
    current: bool = False  # a module in progress after the completed ones
    pace: int = 0  # seconds per module
    mean_score: float = 0.0


# Status thresholds by enrollment age in seconds (_STATUS_BY_AGE in days).
_STATUS_BY_AGE_SECONDS = tuple((days * _DAY, thresholds) for days, thresholds in _STATUS_BY_AGE)


@dataclass
class _Plan:
    """Everything decided before the first row is written."""

    admins: int
    teachers: int
    students: int
    student_grade: list[int] = field(default_factory=list)
    student_created: list[int] = field(default_factory=list)
    student_ability: list[float] = field(default_factory=list)
    courses: list[_Course] = field(default_factory=list)
    enrollments: list[_Enrollment] = field(default_factory=list)


class _Generator:
    """Produces every table's rows from one ``random.Random``; call the row methods in order."""

    def __init__(self, students: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.plan = _Plan(admins=min(5, 2 + students // 50_000),
                          teachers=max(3, math.ceil(students / 25)), students=students)
        # Filled while rows are produced, used by later tables.
        self.module_type: list[int] = [0]  # by module id
        self.module_minutes: list[int] = [0]
        self.module_assessment: list[int] = [0]  # assessment id tied to the module (0: none)
        self.assessment_points: list[int] = [0]  # by assessment id
        self.assessment_kind: list[int] = [0]

    # -- planning ----------------------------------------------------------------------
    def _plan_students(self) -> None:
        """Grade, join time and ability of every student (students join in id order)."""
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        # Students join over time, more of them later (the platform grows).
        span = _STUDENTS_TO - _STUDENTS_FROM
        exponent = 1 / _GROWTH_EXPONENT
        plan.student_created = sorted([
            _STUDENTS_FROM + int(span * rnd() ** exponent) for _ in range(plan.students)
        ])
        gauss = rng.gauss
        grades, abilities = plan.student_grade, plan.student_ability
        for _ in range(plan.students):
            grade = int(rnd() * 3)
            grades.append(7 + (grade if grade < 2 else 2))
            ability = gauss(68.0, 12.0)
            # min(95.0, max(35.0, ability)), spelt out: this runs once per student.
            ability = ability if ability > 35.0 else 35.0
            abilities.append(ability if ability < 95.0 else 95.0)

    def _plan_enrollments(self) -> None:
        """Courses (class sections, opened as demand grows) and who enrolls in which, when."""
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        teachers = plan.teachers
        first_teacher = plan.admins + 1
        first_student = plan.admins + teachers + 1

        # Teachers specialise in one subject, in proportion to the subject's popularity.
        weights = [c.weight for c in CATEGORIES]
        specialists: list[list[int]] = [[] for _ in CATEGORIES]
        for teacher in range(first_teacher, first_teacher + teachers):
            specialists[rng.choices(range(len(CATEGORIES)), weights)[0]].append(teacher)
        all_teachers = list(range(first_teacher, first_teacher + teachers))

        open_sections: dict[tuple[int, int], list[int]] = {}

        def open_section(grade: int, category: int, on_demand: bool) -> int:
            pool = specialists[category] or all_teachers
            cat = CATEGORIES[category]
            max_students = rng.choice(_MAX_STUDENTS)
            course = _Course(
                grade=grade, category=category, teacher=rng.choice(pool),
                max_students=max_students, capacity=max_students - int(rnd() * 12),
                n_modules=6 + int(rnd() * 7), focus=rng.choice(cat.focuses),
                on_demand=on_demand,
            )
            plan.courses.append(course)
            index = len(plan.courses) - 1
            open_sections.setdefault((grade, category), []).append(index)
            return index

        # Every grade offers every subject from the start; more sections open with demand.
        for grade in (7, 8, 9):
            for category in range(len(CATEGORIES)):
                open_section(grade, category, on_demand=False)

        counts, count_weights = _COURSES_PER_STUDENT
        # rng.choices(counts, count_weights)[0], spelt out as random.choices computes it
        # (bisect on the cumulative weights): the same draws, without its per-call setup.
        cum_counts = list(_cumulative(count_weights))
        total_counts = cum_counts[-1] + 0.0
        last_count = len(counts) - 1
        cum_weights = list(_cumulative(weights))
        total_weight = cum_weights[-1]
        last_category = len(cum_weights) - 1
        courses = plan.courses
        planned: list[tuple[int, int, int]] = []  # (enrolled_at, student, course id)
        add = planned.append
        for offset, joined in enumerate(plan.student_created):
            student = first_student + offset
            grade = plan.student_grade[offset]
            how_many = counts[bisect_right(cum_counts, rnd() * total_counts, 0, last_count)]
            chosen: list[int] = []
            while len(chosen) < how_many:
                pick = bisect_right(cum_weights, rnd() * total_weight, 0, last_category)
                if pick not in chosen:
                    chosen.append(pick)
            earliest = joined if joined > _ENROLL_FROM else _ENROLL_FROM
            latest = min(_ENROLL_TO, earliest + 200 * _DAY)
            for number, category in enumerate(chosen):
                if number == 0:  # the first course right after joining
                    enrolled_at = min(latest, earliest + int(rnd() * 3 * _DAY))
                else:
                    enrolled_at = earliest + int(rnd() * (latest - earliest))
                sections = open_sections[(grade, category)]
                if not sections:
                    open_section(grade, category, on_demand=True)
                index = sections[int(rnd() * len(sections))]
                course = courses[index]
                course.enrolled += 1
                if enrolled_at < course.first_enrollment:
                    course.first_enrollment = enrolled_at
                if course.enrolled >= course.capacity:
                    sections.remove(index)
                add((enrolled_at, student, index + 1))
        planned.sort()
        plan.enrollments = [
            _Enrollment(id=number, student=student, course=course, enrolled_at=enrolled_at)
            for number, (enrolled_at, student, course) in enumerate(planned, start=1)
        ]

    # -- users -------------------------------------------------------------------------
    def users(self) -> Iterator[tuple[Any, ...]]:
        self._plan_students()
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        first_student = plan.admins + plan.teachers + 1
        last_id = first_student + plan.students - 1
        for user_id in range(1, last_id + 1):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            if user_id < first_student:
                role = "admin" if user_id <= plan.admins else "teacher"
                domain = "staff.watoto.example"
                grade: int | None = None
                created = _STAFF_FROM + int(rnd() * (_STAFF_TO - _STAFF_FROM))
                active = role == "admin" or rnd() < 0.95
            else:
                role = "student"
                domain = "school.watoto.example"
                offset = user_id - first_student
                grade = plan.student_grade[offset]
                created = plan.student_created[offset]
                active = rnd() < 0.97
            if active:
                last_login: int | None = max(created + _HOUR,
                                             _REF - int(rng.expovariate(1 / 5) * _DAY))
                if rnd() < 0.03 and _REF - created < 30 * _DAY:
                    last_login = None  # joined recently, never signed in
            else:
                last_login = created + int(rnd() * max(_HOUR, _REF - created - 60 * _DAY))
            updated = created if rnd() < 0.7 else created + int(rnd() * (_REF - created))
            yield (
                user_id,
                f"{first}.{last}.{user_id}@{domain}".lower(),
                _fake_hash(user_id),
                first,
                last,
                role,
                grade,
                active,
                None if last_login is None else _ts(last_login),
                _ts(created),
                _ts(updated),
            )

    # -- courses and modules ---------------------------------------------------------------
    def courses(self) -> Iterator[tuple[Any, ...]]:
        self._plan_enrollments()
        rng, rnd = self.rng, self.rng.random
        for course_id, course in enumerate(self.plan.courses, start=1):
            cat = CATEGORIES[course.category]
            if course.on_demand:  # a new section, set up shortly before its first student
                created = max(_COURSES_FROM,
                              course.first_enrollment - int((3 + rnd() * 40) * _DAY))
            else:  # the initial offering, prepared before the platform opened
                created = _COURSES_FROM + int(rnd() * (_COURSES_TO - _COURSES_FROM))
            updated = created if rnd() < 0.5 else created + int(rnd() * (_REF - created))
            choice = rnd()
            description: str | None
            if choice < 0.15:
                description = None
            elif choice < 0.45:
                description = f"{course.focus} for Grade {course.grade} learners. {cat.blurb}"
            elif choice < 0.75:
                units = rng.sample(cat.units, 3)
                description = (f"A Grade {course.grade} {cat.name} course covering {units[0]}, "
                               f"{units[1]} and {units[2]}. {cat.blurb}")
            else:
                description = (f"{cat.blurb} Learners work through {course.n_modules} units "
                               "with short videos, readings, quizzes and a final assignment.")
            yield (
                course_id,
                f"Grade {course.grade} {cat.name}: {course.focus}",
                description,
                course.teacher,
                course.grade,
                cat.name,
                rng.choice(_METHODOLOGIES),
                rng.choice(_DURATIONS),
                rnd() < 0.96,
                course.max_students,
                _ts(created),
                _ts(updated),
            )
            course.created = created

    def course_modules(self) -> Iterator[tuple[Any, ...]]:
        rnd = self.rng.random
        module_id = 0
        for course_id, course in enumerate(self.plan.courses, start=1):
            cat = CATEGORIES[course.category]
            course.first_module = module_id + 1
            start = int(rnd() * len(cat.units))
            created = course.created
            for seq in range(1, course.n_modules + 1):
                module_id += 1
                unit = cat.units[(start + seq - 1) % len(cat.units)]
                if seq == course.n_modules:
                    kind = _ASSIGNMENT
                elif seq % 3 == 0:
                    kind = _QUIZ
                else:
                    kind = _VIDEO if rnd() < 0.55 else _READING
                url: str | None = None
                text: str | None = None
                if kind == _VIDEO:
                    title = f"Watch: {unit}"
                    minutes = 8 + int(rnd() * 18)
                    url = f"https://media.watoto.example/courses/{course_id}/lesson-{seq}.mp4"
                elif kind == _READING:
                    title = f"Read: {unit}"
                    minutes = 15 + int(rnd() * 26)
                    text = (f"Notes on {unit.lower()} for Grade {course.grade}, with worked "
                            "examples and a short activity to try at home.")
                elif kind == _QUIZ:
                    title = f"Quiz: {unit}"
                    minutes = 10 + 5 * int(rnd() * 5)
                    text = f"{5 + 5 * int(rnd() * 3)} multiple-choice questions on {unit.lower()}."
                else:
                    title = f"Assignment: {unit}"
                    minutes = 30 + 15 * int(rnd() * 5)
                    text = (f"Complete the {unit.lower()} task and upload a photo or file of "
                            "your work.")
                self.module_type.append(kind)
                self.module_minutes.append(minutes)
                self.module_assessment.append(0)
                yield (
                    module_id,
                    course_id,
                    f"Lesson {seq}: {title}",
                    None if rnd() < 0.5 else f"{unit} for Grade {course.grade} {cat.name}.",
                    _MODULE_TYPES[kind],
                    url,
                    text,
                    minutes,
                    kind != _READING or rnd() < 0.8,
                    seq,
                    _ts(created + seq * _HOUR + int(rnd() * _HOUR)),
                )

    def assessments(self) -> Iterator[tuple[Any, ...]]:
        rng, rnd = self.rng, self.rng.random
        assessment_id = 0
        for course_id, course in enumerate(self.plan.courses, start=1):
            cat = CATEGORIES[course.category]
            created = course.created + _DAY
            first_of_course = assessment_id + 1
            for seq in range(1, course.n_modules + 1):
                module_id = course.first_module + seq - 1
                kind = self.module_type[module_id]
                if kind not in (_QUIZ, _ASSIGNMENT) or rnd() >= _MODULE_ASSESSMENT_SHARE:
                    continue
                assessment_id += 1
                self.module_assessment[module_id] = assessment_id
                if kind == _QUIZ:
                    points = rng.choice((10, 20, 25))
                    limit: int | None = 15 + 5 * int(rnd() * 7)
                    graded = rnd() < 0.85
                    title = f"{cat.name} Quiz {seq // 3}"
                    description: str | None = "Timed quiz; one attempt counts towards the grade."
                else:
                    points = rng.choice((50, 100))
                    limit = None
                    graded = True
                    title = f"{cat.name} Assignment"
                    description = "Submit your work as a PDF or photo before the deadline."
                self.assessment_points.append(points)
                self.assessment_kind.append(kind)
                yield (assessment_id, course_id, module_id, title,
                       None if rnd() < 0.3 else description, _MODULE_TYPES[kind], points,
                       points // 2, limit, graded, _ts(created + seq * _HOUR))
            if rnd() < _FINAL_PROJECT_SHARE or assessment_id == first_of_course - 1:
                assessment_id += 1
                course.final_assessment = assessment_id
                self.assessment_points.append(100)
                self.assessment_kind.append(-1)
                yield (assessment_id, course_id, None,
                       f"Grade {course.grade} {cat.name} End-of-Term Project",
                       None if rnd() < 0.2 else
                       f"A practical project that brings together the {course.focus.lower()} "
                       "units. Present your findings to the class.",
                       "project", 100, 50, None, True, _ts(created + 2 * _DAY))

    # -- enrollments and progress ----------------------------------------------------------
    def enrollments(self) -> Iterator[tuple[Any, ...]]:
        # Hot: one pass per enrollment (3 M at national scale). min/max on two numbers are
        # spelt out as comparisons that return the same value; the draws are unchanged.
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        gauss, choice = rng.gauss, rng.choice
        courses, abilities = plan.courses, plan.student_ability
        days, times = _DAYS, _TIMES_OF_DAY
        first_student = plan.admins + plan.teachers + 1
        pace_from, pace_span = _PACE_DAYS[0], _PACE_DAYS[1] - _PACE_DAYS[0]
        for enrollment in plan.enrollments:
            course = courses[enrollment.course - 1]
            n = course.n_modules
            enrolled_at = enrollment.enrolled_at
            age = _REF - enrolled_at
            thresholds = _STATUS_BY_AGE_SECONDS[-1][1]
            for limit, by_age in _STATUS_BY_AGE_SECONDS:
                if age < limit:
                    thresholds = by_age
                    break
            draw = rnd()
            status = _ENROLLED
            for threshold in thresholds:
                if draw < threshold:
                    break
                status += 1
            pace = int((pace_from + pace_span * rnd()) * _DAY)
            done = 0
            current = False
            if status == _COMPLETED:
                done = n
                pace = min(pace, (age - _HOUR) // n)
            elif status == _IN_PROGRESS:
                reach = age / (n * pace)
                reach = (reach if reach < 0.95 else 0.95) * rnd()
                done = min(n - 1, int(reach * n))
                current = True
                pace = min(pace, age // (done + 1))
            elif status == _DROPPED:
                done = int(rnd() * (n // 2 + 1))
                current = rnd() < 0.6
                pace = min(pace, age // (done + 2))
            mean = abilities[enrollment.student - first_student] + gauss(0.0, 8.0)
            mean = mean if mean > 25.0 else 25.0
            mean = mean if mean < 99.0 else 99.0
            enrollment.status, enrollment.done, enrollment.current = status, done, current
            enrollment.pace, enrollment.mean_score = pace, mean
            completed: str | None = None
            if status == _COMPLETED:
                completed_at = enrolled_at + n * pace
                completed = days[completed_at // _DAY] + times[completed_at % _DAY]
            notes: str | None = None
            if status == _DROPPED and rnd() < 0.7:
                notes = choice(_DROP_NOTES)
            elif status == _IN_PROGRESS and rnd() < 0.02:
                notes = choice(_SUPPORT_NOTES)
            yield (
                enrollment.id,
                enrollment.student,
                enrollment.course,
                days[enrolled_at // _DAY] + times[enrolled_at % _DAY],
                completed,
                f"{done * 100 / n:.2f}",
                course.first_module + done if status == _IN_PROGRESS else None,
                _STATUSES[status],
                _letter(mean) if status == _COMPLETED else None,
                notes,
            )

    # -- what the server makes module progress and submissions from --------------------
    def module_plan(self) -> Iterator[tuple[Any, ...]]:
        """Per module: its type, minutes and the assessment tied to it (None: none)."""
        kinds, minutes, assessments = self.module_type, self.module_minutes, self.module_assessment
        for module_id in range(1, len(kinds)):
            yield (module_id, _MODULE_TYPES[kinds[module_id]], minutes[module_id],
                   assessments[module_id] or None)

    def assessment_plan(self) -> Iterator[tuple[Any, ...]]:
        """Per assessment: its points and type (``project`` for a course's final one)."""
        points, kinds = self.assessment_points, self.assessment_kind
        for assessment_id in range(1, len(points)):
            kind = kinds[assessment_id]
            yield (assessment_id, points[assessment_id],
                   _MODULE_TYPES[kind] if kind >= 0 else "project")

    def progress_plan(self) -> Iterator[tuple[Any, ...]]:
        """Per enrollment with progress, what its module progress and submissions follow
        from: who, the course's teacher and modules, when, the pace in seconds per module,
        the mean score, modules completed and started, the first progress id (ids follow
        enrollments, then modules), and the end-of-term project a completer may submit."""
        courses = self.plan.courses
        first_progress = 1
        for enrollment in self.plan.enrollments:
            done = enrollment.done
            started = done + 1 if enrollment.current else done
            if started == 0:
                continue
            course = courses[enrollment.course - 1]
            final = (course.final_assessment or None) if enrollment.status == _COMPLETED else None
            yield (enrollment.id, enrollment.student, enrollment.course, course.teacher,
                   enrollment.enrolled_at, course.first_module, course.n_modules,
                   enrollment.pace, enrollment.mean_score, done, started, first_progress, final)
            first_progress += started

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        producer: Callable[[], Iterator[tuple[Any, ...]]] = getattr(self, table)
        return producer()


# -- helpers -----------------------------------------------------------------------------
def _cumulative(values: Sequence[int]) -> Iterator[int]:
    total = 0
    for value in values:
        total += value
        yield total


def _letter(score: float) -> str:
    if score >= 80:
        return "A"
    if score >= 70:
        return "B"
    if score >= 60:
        return "C"
    if score >= 50:
        return "D"
    return "F"


def _fake_hash(user_id: int) -> str:
    """A fixed-format placeholder: the leading ``!`` marks it unusable, as Django does."""
    return f"!sample$pbkdf2_sha256$600000${user_id:010d}$not-a-real-password-hash"

