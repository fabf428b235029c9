"""Deterministic, realistic sample data for a junior-secondary (grades 7-9) LMS database.

``load(conn, students)`` fills a freshly migrated, empty database in one transaction:
users (admins, teachers, students), courses per grade and category, their modules,
assessments, enrollments, module progress and assessment submissions. Everything is
derived from ``random.Random(seed)`` and fixed reference dates, so the same seed and the
same number of students give byte-identical data, ids included.

It is a bulk load, which it may be because the database is empty (it refuses otherwise)
and everything happens in one transaction that holds ACCESS EXCLUSIVE locks on the tables:

1. the keys (primary, unique, foreign) and secondary indexes of the loaded tables and of
   the key tables are recorded from the catalog and dropped, the tables' row triggers are
   disabled and the unpartitioned tables truncated (so COPY may FREEZE them);
2. rows go in with COPY, table by table, with explicit ids;
3. the trigger-maintained key tables (``user_email_keys``, ``enrollment_keys``) are filled
   set-based from what was loaded, with the triggers' own expressions;
4. indexes and constraints are re-created exactly as recorded, in creation order (a key
   or foreign key re-added is validated over every row: uniqueness of emails and of
   enrollments per student and course, every reference), triggers re-enabled, and
   ``sql/sample_data/guarantees.sql`` checks what constraints cannot say;
5. sequences move past the largest ids, the database is marked (``COMMENT ON DATABASE``,
   a JSON document of kind ``watoto-sample-data``) and the loaded tables ANALYZEd.

A failure anywhere rolls all of it back: the schema comes back as it was.
"""

from __future__ import annotations

import json
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from .errors import BadConfig, WatotoError
from .resources import sql_text

__all__ = ["SampleDataResult", "load", "is_empty", "read_mark", "TABLES", "SEQUENCES",
           "MARK_KIND", "GuaranteeBroken"]

# -- reference dates (never now()) ------------------------------------------------------
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

# Tables load() fills with COPY, in load (foreign-key) order, and their id sequences.
TABLES: tuple[str, ...] = (
    "users", "courses", "course_modules", "assessments", "enrollments", "module_progress",
    "assessment_submissions",
)
SEQUENCES: dict[str, str] = {
    "users": "users_id_seq",
    "courses": "courses_id_seq",
    "course_modules": "course_modules_id_seq",
    "assessments": "assessments_id_seq",
    "enrollments": "enrollments_id_seq",
    "module_progress": "module_progress_id_seq",
    "assessment_submissions": "assessment_submissions_id_seq",
}
# The key tables the row triggers of users and enrollments maintain.
KEY_TABLES: tuple[str, ...] = ("user_email_keys", "enrollment_keys")
# Tables ANALYZEd after the load: the loaded ones plus the trigger-maintained key tables.
_ANALYZE: tuple[str, ...] = (*TABLES, *KEY_TABLES)
# What the row triggers would have written, set-based (watoto_users_sync_email_key and
# watoto_enrollments_sync_keys in migrations 0002 and 0004).
_FILL_KEYS: tuple[str, ...] = (
    "INSERT INTO user_email_keys (email_key, user_id) SELECT lower(email), id FROM users",
    "INSERT INTO enrollment_keys (id, student_id, course_id, enrolled_at) "
    "SELECT id, student_id, course_id, enrolled_at FROM enrollments",
)
# The COMMENT ON DATABASE document that says sample-data filled this database.
MARK_KIND = "watoto-sample-data"
# Rows between two progress reports while a table is copied.
_REPORT_EVERY = 200_000

_COLUMNS: dict[str, str] = {
    "users": "id, email, password_hash, first_name, last_name, role, grade, is_active, "
             "last_login, created_at, updated_at",
    "courses": "id, title, description, instructor_id, grade, category, methodology, duration, "
               "is_active, max_students, created_at, updated_at",
    "course_modules": "id, course_id, title, description, module_type, content_url, "
                      "content_text, duration_minutes, is_required, sequence_order, created_at",
    "assessments": "id, course_id, module_id, title, description, assessment_type, total_points, "
                   "passing_score, time_limit_minutes, is_graded, created_at",
    "enrollments": "id, student_id, course_id, enrolled_at, completed_at, progress_percentage, "
                   "current_module_id, status, grade, notes",
    "module_progress": "id, enrollment_id, module_id, started_at, completed_at, "
                       "time_spent_minutes, score, attempts, status",
    "assessment_submissions": "id, assessment_id, student_id, submitted_at, content, file_url, "
                              "score, feedback, graded_by, graded_at, status",
}

# -- vocabulary --------------------------------------------------------------------------
FIRST_NAMES: tuple[str, ...] = (
    "Amani", "Baraka", "Neema", "Zawadi", "Imani", "Juma", "Halima", "Wanjiru", "Njeri",
    "Kamau", "Mwangi", "Achieng", "Akinyi", "Otieno", "Atieno", "Chebet", "Jepkemboi",
    "Kiprono", "Wafula", "Nekesa", "Nafula", "Mutua", "Mwikali", "Ndinda", "Musyoka",
    "Nakato", "Namubiru", "Akello", "Okello", "Apio", "Faraji", "Rehema", "Asha", "Zuberi",
    "Bahati", "Tumaini", "Upendo", "Subira", "Salma", "Hassan", "Fatuma", "Khadija", "Abdi",
    "Hodan", "Mugisha", "Uwase", "Ishimwe", "Keza", "Nia", "Jabali", "Makena", "Kendi",
    "Gakii", "Nyokabi", "Wairimu", "Brian", "Faith", "Mercy", "Kevin", "Grace", "Dennis",
    "Esther", "Collins", "Sharon", "Ian", "Joy", "Peter", "Mary", "John", "Sarah", "David",
    "Ruth", "Emmanuel", "Cynthia", "Daniel", "Lucy",
)
LAST_NAMES: tuple[str, ...] = (
    "Otieno", "Odhiambo", "Ochieng", "Omondi", "Onyango", "Awuor", "Omollo", "Kamau",
    "Mwangi", "Njoroge", "Kariuki", "Wanjiku", "Gitau", "Maina", "Ndungu", "Macharia",
    "Muriuki", "Kiprotich", "Kipchumba", "Cheruiyot", "Rotich", "Koech", "Langat", "Kiptoo",
    "Chepkoech", "Mutua", "Musyoka", "Kioko", "Mwende", "Wafula", "Wanyama", "Barasa",
    "Simiyu", "Wekesa", "Nyambura", "Mohamed", "Hassan", "Abdalla", "Ali", "Juma", "Salim",
    "Mushi", "Massawe", "Mrema", "Kimaro", "Lyimo", "Swai", "Mollel", "Mugisha", "Habimana",
    "Uwimana", "Niyonsaba", "Nsubuga", "Ssempala", "Mukasa", "Kato", "Okello", "Opio",
    "Mbugua", "Kilonzo", "Wambua", "Nyaga", "Achola", "Auma",
)


@dataclass(frozen=True)
class _Category:
    name: str
    weight: int  # relative popularity when students choose courses
    focuses: tuple[str, ...]
    units: tuple[str, ...]
    blurb: str


CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "Mathematics", 10,
        ("Numbers and Algebra", "Geometry and Measurement", "Data Handling and Probability",
         "Core Skills"),
        ("Whole Numbers", "Factors and Multiples", "Fractions", "Decimals",
         "Squares and Square Roots", "Algebraic Expressions", "Linear Equations", "Rates",
         "Ratio and Proportion", "Money and Commercial Arithmetic", "Length and Area",
         "Angles and Constructions", "Data Handling", "Probability"),
        "Learners build number sense and apply mathematics to everyday problems at home, "
        "at the market and on the farm.",
    ),
    _Category(
        "English", 9,
        ("Language and Literature", "Reading and Writing", "Communication Skills"),
        ("Listening and Speaking", "Reading Comprehension", "Grammar in Use",
         "Creative Writing", "Oral Literature", "Functional Writing", "Poetry",
         "Vocabulary Building", "Summary Writing", "Debate and Public Speaking",
         "The Class Reader", "Spelling and Punctuation"),
        "Learners read widely, write with purpose and speak confidently in class and beyond.",
    ),
    _Category(
        "Kiswahili", 8,
        ("Lugha na Fasihi", "Sarufi na Matumizi ya Lugha", "Kusoma na Kuandika"),
        ("Kusikiliza na Kuzungumza", "Kusoma kwa Ufahamu", "Sarufi", "Uandishi wa Insha",
         "Fasihi Simulizi", "Methali na Nahau", "Ushairi", "Msamiati", "Barua Rasmi",
         "Hadithi Fupi", "Tamthilia", "Maigizo"),
        "Wanafunzi wanakuza stadi za kusikiliza, kuzungumza, kusoma na kuandika Kiswahili "
        "sanifu.",
    ),
    _Category(
        "Integrated Science", 8,
        ("Scientific Investigation", "Living Things and Their Environment", "Force and Energy",
         "Matter and Mixtures"),
        ("Scientific Investigation", "Laboratory Safety", "Mixtures and Separation",
         "Acids, Bases and Indicators", "Living Things", "The Cell", "Human Digestive System",
         "Reproduction in Plants", "Force and Energy", "Electricity", "Magnetism",
         "Heat Transfer"),
        "Hands-on investigations with locally available materials introduce biology, "
        "chemistry and physics.",
    ),
    _Category(
        "Social Studies", 5,
        ("People and Places", "Citizenship and Governance", "Our Heritage"),
        ("Our Community", "Map Reading", "Physical Features of Africa", "Weather and Climate",
         "Early Civilisations", "Colonialism in Africa", "Citizenship", "Human Rights",
         "Trade in East Africa", "Transport and Communication", "Population and Settlement",
         "Governance in Kenya"),
        "Learners explore the history, geography and governance of East Africa and their "
        "place in it.",
    ),
    _Category(
        "Pre-Technical Studies", 4,
        ("Technical Drawing and Design", "Workshop Practice", "Business and Financial Literacy"),
        ("Safety in the Workshop", "Drawing Instruments", "Materials for Production",
         "Tools and Equipment", "Handling Waste", "Plane Geometry", "Introduction to Computers",
         "Entrepreneurship", "Financial Literacy", "Simple Circuits", "Woodwork Basics",
         "Project Design"),
        "A practical introduction to technical skills, safe workshop practice and small "
        "business thinking.",
    ),
    _Category(
        "Agriculture", 4,
        ("Crop Production", "Animal Husbandry", "Conservation Agriculture"),
        ("Conserving the Environment", "Soil Types", "Crop Production", "Kitchen Gardening",
         "Small Livestock Keeping", "Poultry Management", "Water Harvesting", "Composting",
         "Food Preservation", "Farm Tools", "Agroforestry", "Pest Control"),
        "Learners run school garden projects and learn sustainable ways to grow food and keep "
        "animals.",
    ),
    _Category(
        "Creative Arts and Sports", 4,
        ("Visual Arts", "Music and Dance", "Performing Arts", "Physical Education"),
        ("Drawing and Painting", "Traditional Songs", "Dance and Movement", "Drama and Role Play",
         "Pottery", "Weaving", "Playing Instruments", "Photography", "Graphic Design", "Athletics",
         "Ball Games", "Art Appreciation"),
        "Learners create, perform and play, drawing on East African artistic and sporting "
        "traditions.",
    ),
    _Category(
        "Religious Education", 4,
        ("Christian Religious Education", "Islamic Religious Education",
         "Hindu Religious Education"),
        ("Creation", "Holy Scriptures", "Prayer and Worship", "Moral Values",
         "Family and Community", "Leadership", "Festivals", "Service to Others",
         "Honesty and Integrity", "Respect for Life", "Forgiveness", "Stewardship"),
        "Learners reflect on faith, values and responsible living in a diverse society.",
    ),
    _Category(
        "Health Education", 3,
        ("Personal Health", "Community Health", "Growth and Development"),
        ("Personal Hygiene", "Nutrition", "Communicable Diseases", "Drug and Substance Abuse",
         "First Aid", "Mental Health", "Growth and Puberty", "Road Safety", "Safe Water",
         "Physical Fitness", "Healthy Relationships", "Disease Prevention"),
        "Practical knowledge for healthy choices at school, at home and in the community.",
    ),
    _Category(
        "Life Skills Education", 3,
        ("Knowing Myself", "Living with Others", "Making Good Decisions"),
        ("Self-awareness", "Effective Communication", "Decision Making", "Peer Pressure",
         "Conflict Resolution", "Goal Setting", "Time Management", "Coping with Stress",
         "Empathy", "Assertiveness", "Friendship", "Career Awareness"),
        "Learners practise the personal and social skills they need to thrive as teenagers.",
    ),
    _Category(
        "Computer Science", 2,
        ("Digital Literacy", "Programming Foundations", "Computing in Society"),
        ("Computer Hardware", "Operating Systems", "Typing Skills", "Word Processing",
         "Spreadsheets", "Internet Safety", "Digital Citizenship", "Algorithms",
         "Block Programming", "Presentations", "Email Etiquette", "Files and Data"),
        "From keyboard skills to first programs: learners become confident, safe computer "
        "users.",
    ),
)

_METHODOLOGIES: tuple[str | None, ...] = (
    "Competency-Based Curriculum", "Competency-Based Curriculum", "Blended learning",
    "Project-based learning", "Inquiry-based learning", "Flipped classroom", None,
)
_DURATIONS: tuple[str, ...] = ("1 term", "1 term", "2 terms", "1 year", "10 weeks", "12 weeks")
_MAX_STUDENTS: tuple[int, ...] = (40, 45, 50, 50, 50, 60)
_DROP_NOTES: tuple[str, ...] = (
    "Transferred to another school", "Changed subject selection", "Extended absence",
    "Timetable clash", "Moved away with family", "Withdrew on parent's request",
)
_SUPPORT_NOTES: tuple[str, ...] = (
    "Needs extra support with reading", "Catching up after absence",
    "Offline access only; uses downloaded lessons",
    "Shows strong interest; consider extension work",
)
_FEEDBACK: tuple[str, ...] = (
    "Well done, keep it up.", "Good effort. Show all your working next time.",
    "Excellent work and neat presentation.", "Review the unit notes and try the practice set.",
    "Good understanding of the key ideas.", "Some answers are incomplete; see comments.",
    "Very creative approach.", "Please read the instructions carefully.",
)
_RETURN_FEEDBACK: tuple[str, ...] = (
    "Returned for revision: please complete the missing sections and resubmit.",
    "Returned: the photo of your work is not clear; upload it again.",
    "Returned for corrections: check your answers to questions 3 and 4.",
)

# Module type codes (index into _MODULE_TYPES).
_MODULE_TYPES: tuple[str, ...] = ("video", "reading", "quiz", "assignment")
_VIDEO, _READING, _QUIZ, _ASSIGNMENT = 0, 1, 2, 3
# Enrollment status codes (index into _STATUSES).
_STATUSES: tuple[str, ...] = ("enrolled", "in_progress", "completed", "dropped")
_ENROLLED, _IN_PROGRESS, _COMPLETED, _DROPPED = 0, 1, 2, 3
# Cumulative status probabilities by enrollment age: (max age in days, [p0, p0+p1, ...]).
_STATUS_BY_AGE: tuple[tuple[int, tuple[float, float, float]], ...] = (
    (7, (0.70, 1.00, 1.00)),
    (30, (0.35, 0.95, 0.95)),
    (90, (0.15, 0.90, 0.93)),
    (240, (0.10, 0.65, 0.88)),
    (10**6, (0.10, 0.42, 0.80)),
)
# Share of quiz/assignment modules with a graded assessment, of courses with an
# end-of-term project, and of reached assessments a student submits.
_MODULE_ASSESSMENT_SHARE = 0.4
_FINAL_PROJECT_SHARE = 0.6
_SUBMIT_SHARE = 0.85
# Students join over time; the platform grows: joined = start + span * u ** (1 / exponent).
_GROWTH_EXPONENT = 2.5
# Days a student spends per module (school pace: a 9-module course takes about a term).
_PACE_DAYS = (4.0, 14.0)
# How many courses a student takes: (count, weight).
_COURSES_PER_STUDENT: tuple[tuple[int, ...], tuple[int, ...]] = ((2, 3, 4, 5, 6),
                                                                 (30, 40, 20, 7, 3))


@dataclass
class SampleDataResult:
    """What ``load`` did: students generated, rows per table (load order) and wall time."""

    students: int
    rows: dict[str, int]  # table name -> rows loaded
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    marked: bool = False  # the database carries the sample-data mark


class GuaranteeBroken(WatotoError):
    """A guarantee of the schema does not hold after a bulk load (nothing was kept)."""

    def __init__(self, broken: dict[str, int]) -> None:
        self.broken = broken
        listed = ", ".join(f"{name}: {count}" for name, count in broken.items())
        super().__init__(f"sample data rolled back: a guarantee does not hold ({listed})")


@dataclass
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


@dataclass
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


@dataclass
class _Submission:
    submitted_at: int
    assessment: int
    student: int
    course: int
    mean_score: float


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
        self.submissions: list[_Submission] = []

    # -- planning ----------------------------------------------------------------------
    def _plan_students(self) -> None:
        """Grade, join time and ability of every student (students join in id order)."""
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        # Students join over time, more of them later (the platform grows).
        span = _STUDENTS_TO - _STUDENTS_FROM
        plan.student_created = sorted(
            _STUDENTS_FROM + int(span * rnd() ** (1 / _GROWTH_EXPONENT))
            for _ in range(plan.students)
        )
        for _ in range(plan.students):
            plan.student_grade.append(7 + min(2, int(rnd() * 3)))
            plan.student_ability.append(min(95.0, max(35.0, rng.gauss(68.0, 12.0))))

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
        cum_weights = list(_cumulative(weights))
        total_weight = cum_weights[-1]
        planned: list[tuple[int, int, int]] = []  # (enrolled_at, student, course id)
        for offset, joined in enumerate(plan.student_created):
            student = first_student + offset
            grade = plan.student_grade[offset]
            how_many = rng.choices(counts, count_weights)[0]
            chosen: list[int] = []
            while len(chosen) < how_many:
                pick = _bisect(cum_weights, rnd() * total_weight)
                if pick not in chosen:
                    chosen.append(pick)
            earliest = max(joined, _ENROLL_FROM)
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
                course = plan.courses[index]
                course.enrolled += 1
                course.first_enrollment = min(course.first_enrollment, enrolled_at)
                if course.enrolled >= course.capacity:
                    sections.remove(index)
                planned.append((enrolled_at, student, index + 1))
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
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        first_student = plan.admins + plan.teachers + 1
        for enrollment in plan.enrollments:
            course = plan.courses[enrollment.course - 1]
            n = course.n_modules
            age = _REF - enrollment.enrolled_at
            thresholds = next(t for days, t in _STATUS_BY_AGE if age < days * _DAY)
            draw = rnd()
            status = _ENROLLED
            for threshold in thresholds:
                if draw < threshold:
                    break
                status += 1
            pace = int((_PACE_DAYS[0] + (_PACE_DAYS[1] - _PACE_DAYS[0]) * rnd()) * _DAY)
            done = 0
            current = False
            if status == _COMPLETED:
                done = n
                pace = min(pace, (age - _HOUR) // n)
            elif status == _IN_PROGRESS:
                reach = min(0.95, age / (n * pace)) * rnd()
                done = min(n - 1, int(reach * n))
                current = True
                pace = min(pace, age // (done + 1))
            elif status == _DROPPED:
                done = int(rnd() * (n // 2 + 1))
                current = rnd() < 0.6
                pace = min(pace, age // (done + 2))
            ability = plan.student_ability[enrollment.student - first_student]
            mean = min(99.0, max(25.0, ability + rng.gauss(0.0, 8.0)))
            enrollment.status, enrollment.done, enrollment.current = status, done, current
            enrollment.pace, enrollment.mean_score = pace, mean
            completed_at = enrollment.enrolled_at + n * pace if status == _COMPLETED else None
            notes: str | None = None
            if status == _DROPPED and rnd() < 0.7:
                notes = rng.choice(_DROP_NOTES)
            elif status == _IN_PROGRESS and rnd() < 0.02:
                notes = rng.choice(_SUPPORT_NOTES)
            yield (
                enrollment.id,
                enrollment.student,
                enrollment.course,
                _ts(enrollment.enrolled_at),
                None if completed_at is None else _ts(completed_at),
                f"{done * 100 / n:.2f}",
                course.first_module + done if status == _IN_PROGRESS else None,
                _STATUSES[status],
                _letter(mean) if status == _COMPLETED else None,
                notes,
            )

    def module_progress(self) -> Iterator[tuple[Any, ...]]:
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        gauss = rng.gauss
        module_type, module_minutes = self.module_type, self.module_minutes
        module_assessment, submissions = self.module_assessment, self.submissions
        days, times = _DAYS, _TIMES_OF_DAY  # _ts() inlined: two per row, 14 M rows at scale
        progress_id = 0
        for enrollment in plan.enrollments:
            started = enrollment.done + (1 if enrollment.current else 0)
            if started == 0:
                continue
            course = plan.courses[enrollment.course - 1]
            pace, mean = enrollment.pace, enrollment.mean_score
            base = enrollment.enrolled_at
            for position in range(started):
                progress_id += 1
                module_id = course.first_module + position
                kind = module_type[module_id]
                minutes = module_minutes[module_id]
                started_at = base + position * pace + int(rnd() * pace * 0.25)
                if position < enrollment.done:
                    completed_at = started_at + int(pace * (0.125 + 0.375 * rnd()))
                    score: str | None = None
                    attempts = 1
                    if kind >= _QUIZ:
                        value = min(100.0, max(0.0, gauss(mean, 10.0)))
                        score = f"{value:.2f}"
                        if kind == _QUIZ:
                            draw = rnd()
                            attempts = 1 if draw < 0.7 else 2 if draw < 0.92 else 3
                    assessment = module_assessment[module_id]
                    if assessment and rnd() < _SUBMIT_SHARE:
                        submitted_at = max(started_at, completed_at - int(rnd() * _HOUR))
                        submissions.append(_Submission(submitted_at,
                                                       assessment, enrollment.student,
                                                       enrollment.course, mean))
                    yield (progress_id, enrollment.id, module_id,
                           days[started_at // _DAY] + times[started_at % _DAY],
                           days[completed_at // _DAY] + times[completed_at % _DAY],
                           int(minutes * (0.8 + 0.8 * rnd())) * attempts,
                           score, attempts, "completed")
                else:
                    yield (progress_id, enrollment.id, module_id,
                           days[started_at // _DAY] + times[started_at % _DAY], None,
                           int(minutes * (0.1 + 0.6 * rnd())), None, 1, "in_progress")
            if (enrollment.status == _COMPLETED and course.final_assessment
                    and rnd() < _SUBMIT_SHARE):
                finished = base + course.n_modules * pace
                submissions.append(_Submission(finished - int(rnd() * pace * 0.5),
                                               course.final_assessment, enrollment.student,
                                               enrollment.course, mean))

    def assessment_submissions(self) -> Iterator[tuple[Any, ...]]:
        rng, rnd, plan = self.rng, self.rng.random, self.plan
        gauss = rng.gauss
        self.submissions.sort(key=lambda s: (s.submitted_at, s.assessment, s.student))
        for submission_id, sub in enumerate(self.submissions, start=1):
            points = self.assessment_points[sub.assessment]
            kind = self.assessment_kind[sub.assessment]
            content: str | None
            file_url: str | None = None
            if kind == _QUIZ:
                answers = ", ".join(f'"{"ABCD"[int(rnd() * 4)]}"' for _ in range(points // 5))
                content = f'{{"answers": [{answers}]}}'
            else:
                content = None if rnd() < 0.6 else "Please find my work attached."
                extension = "pdf" if rnd() < 0.6 else "jpg"
                file_url = (f"https://files.watoto.example/submissions/{sub.assessment}/"
                            f"{sub.student}.{extension}")
            graded_at = sub.submitted_at + _HOUR * 6 + int(rnd() * 10 * _DAY)
            waiting = graded_at > _REF or (_REF - sub.submitted_at < 14 * _DAY and rnd() < 0.4)
            if waiting:
                yield (submission_id, sub.assessment, sub.student, _ts(sub.submitted_at),
                       content, file_url, None, None, None, None, "submitted")
                continue
            value = min(100.0, max(0.0, gauss(sub.mean_score, 10.0))) * points / 100
            returned = kind != _QUIZ and rnd() < 0.15
            if returned:
                feedback: str | None = rng.choice(_RETURN_FEEDBACK)
            else:
                feedback = rng.choice(_FEEDBACK) if rnd() < 0.5 else None
            yield (submission_id, sub.assessment, sub.student, _ts(sub.submitted_at), content,
                   file_url, f"{value:.2f}", feedback, plan.courses[sub.course - 1].teacher,
                   _ts(graded_at), "returned" if returned else "graded")

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        producer: Callable[[], Iterator[tuple[Any, ...]]] = getattr(self, table)
        return producer()


# -- helpers -----------------------------------------------------------------------------
def _cumulative(values: Sequence[int]) -> Iterator[int]:
    total = 0
    for value in values:
        total += value
        yield total


def _bisect(cumulative: Sequence[int], point: float) -> int:
    for index, bound in enumerate(cumulative):
        if point < bound:
            return index
    return len(cumulative) - 1


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


def _has_data(cur: psycopg.Cursor[Any]) -> bool:
    try:
        cur.execute("SELECT EXISTS (SELECT 1 FROM users), EXISTS (SELECT 1 FROM courses)")
    except psycopg.errors.UndefinedTable as exc:
        raise BadConfig(
            "the database has no watoto schema (table missing): run the migrations first"
        ) from exc
    row = cur.fetchone()
    return row is not None and bool(row[0] or row[1])


def _refuse_unless_empty(cur: psycopg.Cursor[Any]) -> None:
    if _has_data(cur):
        raise BadConfig("the database already has data; load sample data into a fresh, "
                        "migrated database")


def is_empty(conn: psycopg.Connection[Any]) -> bool:
    """True when the migrated schema holds no users and no courses yet."""
    with conn.cursor() as cur:
        return not _has_data(cur)


@dataclass(frozen=True)
class _Deferred:
    """An index or constraint dropped for the load, and how to put it back."""

    table: str
    name: str
    kind: str  # "index", "p", "u" or "f"
    position: int  # creation order (the oid of its index; constraints for "f")
    definition: str

    def drop(self) -> sql.Composed:
        if self.kind == "index":
            return sql.SQL("DROP INDEX {}").format(sql.SQL(self.name))
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.SQL(self.table), sql.Identifier(self.name))

    def create(self) -> sql.SQL | sql.Composed:
        # Names and definitions come from the catalog's own deparsers (regclass text,
        # pg_get_indexdef, pg_get_constraintdef): already quoted where they need it.
        if self.kind == "index":
            return sql.SQL(self.definition)
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.SQL(self.table), sql.Identifier(self.name),
            sql.SQL(self.definition))


def _deferrable(cur: psycopg.Cursor[Any]) -> list[_Deferred]:
    """Every key and secondary index of the loaded and key tables, in re-creation order."""
    tables = list(_ANALYZE)
    found: list[_Deferred] = []
    for table, name, position, definition in cur.execute(
            sql_text("sample_data/deferrable_indexes.sql"), {"tables": tables}).fetchall():
        found.append(_Deferred(table, name, "index", int(position), definition))
    foreign: list[_Deferred] = []
    for table, name, kind, position, definition in cur.execute(
            sql_text("sample_data/deferrable_constraints.sql"), {"tables": tables}).fetchall():
        (foreign if kind == "f" else found).append(
            _Deferred(table, name, kind, int(position), definition))
    found.sort(key=lambda item: item.position)
    return found + foreign  # foreign keys last: they need the keys they reference


_CHUNK = 10_000  # rows per hand-over from the generating thread
_AHEAD = 100  # chunks the generating thread may run ahead of COPY


class _Producer:
    """Generates every table's rows on a thread, in chunks, ahead of the COPY that sends them.

    The point is overlap: while the connection waits on the server (an index build, an
    ANALYZE, the server's side of COPY) the GIL is free and the next rows get made. The
    ``_Generator`` is used from this one thread only; an exception in it is handed over
    and raised by ``chunks``.
    """

    _END = object()

    def __init__(self, generator: _Generator) -> None:
        self.generator = generator
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_AHEAD)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sample-data", daemon=True)

    def __enter__(self) -> _Producer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for table in TABLES:
                chunk: list[tuple[Any, ...]] = []
                for row in self.generator.rows(table):
                    chunk.append(row)
                    if len(chunk) >= _CHUNK:
                        if not self._put((table, chunk)):
                            return
                        chunk = []
                if not (self._put((table, chunk)) and self._put((table, self._END))):
                    return
        except BaseException as exc:  # handed to the loading thread, which raises it
            self._put(("", exc))

    def chunks(self, table: str) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``table`` (the tables come in TABLES order), chunk by chunk."""
        while True:
            name, item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is self._END:
                return
            assert name == table, (name, table)
            yield item


def _set_triggers(cur: psycopg.Cursor[Any], enabled: bool) -> None:
    verb = sql.SQL("ENABLE" if enabled else "DISABLE")
    for table in ("users", "enrollments"):
        cur.execute(sql.SQL("ALTER TABLE {} {} TRIGGER USER").format(
            sql.Identifier(table), verb))


def _check_guarantees(cur: psycopg.Cursor[Any]) -> None:
    broken = {str(name): int(n) for name, n in
              cur.execute(sql_text("sample_data/guarantees.sql")).fetchall() if n}
    if broken:
        raise GuaranteeBroken(broken)


def _unpartitioned(cur: psycopg.Cursor[Any], tables: Sequence[str]) -> list[str]:
    rows = cur.execute("SELECT relname FROM pg_class WHERE oid = ANY (%s::regclass[]) "
                       "AND relkind = 'r'", (list(tables),)).fetchall()
    return [str(name) for (name,) in rows]


def _mark(cur: psycopg.Cursor[Any], students: int, seed: int) -> bool:
    """Say in the database's comment that sample-data filled it (needs its ownership)."""
    row = cur.execute("SELECT current_database(), pg_has_role(datdba, 'USAGE') "
                      "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                      "FROM pg_database WHERE datname = current_database()").fetchone()
    if row is None or not row[1]:
        return False
    document = {"kind": MARK_KIND, "students": students, "seed": seed,
                "loaded_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(str(row[0])), sql.Literal(json.dumps(document))))
    return True


def read_mark(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The sample-data mark of the connected database (its JSON comment), or None."""
    row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                       "WHERE datname = current_database()").fetchone()
    if row is None or not row[0]:
        return None
    try:
        document = json.loads(row[0])
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("kind") == MARK_KIND:
        return document
    return None


# -- public API --------------------------------------------------------------------------
def load(
    conn: psycopg.Connection[Any],
    students: int,
    *,
    seed: int = 7,
    progress: Callable[[str, int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> SampleDataResult:
    """Fill an empty, migrated database with sample data for ``students`` students.

    All in one transaction: on any failure nothing is left behind. Raises ``BadConfig``
    when ``students < 1``, when the schema is missing, or when ``users``/``courses``
    already hold rows; ``GuaranteeBroken`` when a check after the load fails.
    ``progress(table, rows)`` is called after each table is copied, ``on_step(text)``
    whenever the load enters a phase (and every 200,000 rows of a COPY).
    """
    if students < 1:
        raise BadConfig(f"the number of students must be at least 1 (got {students})")
    step = on_step or (lambda text: None)
    began = time.perf_counter()
    clock = began
    steps: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = round(steps.get(name, 0.0) + now - clock, 3)
        clock = now

    rows: dict[str, int] = {}
    with conn.transaction(), conn.cursor() as cur:
        _refuse_unless_empty(cur)
        # Empty (users and courses are, so everything that references them is): keys and
        # indexes are cheaper built once over the loaded rows than maintained row by row.
        step("dropping keys and indexes for the load")
        deferred = _deferrable(cur)
        for item in reversed(deferred):
            cur.execute(item.drop())
        _set_triggers(cur, enabled=False)
        plain = _unpartitioned(cur, TABLES)
        cur.execute(sql.SQL("TRUNCATE {}").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in plain)))
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        lap("prepare")

        # Each table's own indexes and keys are built, and the table ANALYZEd, right after
        # its COPY, while the producer thread makes the next table's rows; what spans
        # tables (key tables, foreign keys) comes once everything is in.
        own: dict[str, list[_Deferred]] = {}
        last: list[_Deferred] = []
        for item in deferred:
            if item.kind != "f" and item.table in TABLES:
                own.setdefault(item.table, []).append(item)
            else:
                last.append(item)
        with _Producer(_Generator(students, seed)) as producer:
            for table in TABLES:
                step(f"loading {table}")
                count = 0
                freeze = sql.SQL(" WITH (FREEZE)") if table in plain else sql.SQL("")
                statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                    sql.Identifier(table), sql.SQL(_COLUMNS[table]),
                    freeze)
                reported = 0
                with cur.copy(statement) as copy:
                    write = copy.write_row
                    for chunk in producer.chunks(table):
                        for row in chunk:
                            write(row)
                        count += len(chunk)
                        if count - reported >= _REPORT_EVERY:
                            reported = count
                            step(f"loading {table}: {count:,} rows")
                rows[table] = count
                if progress is not None:
                    progress(table, count)
                lap("copy")
                for item in own.get(table, []):
                    step(f"building {item.name}")
                    cur.execute(item.create())
                step(f"analyzing {table}")
                cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
                lap("indexes and analyze")

        step("filling the key tables")
        for statement_text in _FILL_KEYS:
            cur.execute(statement_text)
        lap("key tables")
        for item in last:
            step(f"building {item.name}" if item.kind != "f" else f"validating {item.name}")
            cur.execute(item.create())
        _set_triggers(cur, enabled=True)
        lap("keys and foreign keys")
        step("checking the guarantees")
        _check_guarantees(cur)
        lap("checks")

        # Ids are 1..count: move each sequence to the largest one (to 1, unused, if none).
        # setval is not undone by a rollback, so it runs only once every COPY has succeeded.
        for table, count in rows.items():
            cur.execute(
                "SELECT setval(%s::regclass, %s, %s)",
                (SEQUENCES[table], max(count, 1), count > 0),
            )
        marked = _mark(cur, students, seed)
        step("analyzing the key tables")
        cur.execute(sql.SQL("ANALYZE {}").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in KEY_TABLES)))
        lap("indexes and analyze")
    return SampleDataResult(students=students, rows=rows, seconds=time.perf_counter() - began,
                            steps=steps, marked=marked)
