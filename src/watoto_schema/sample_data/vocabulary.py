"""The words and the shape of the sample: names, subjects, notes, and the distribution's
parameters (shares, paces, statuses by age)."""

from __future__ import annotations

from dataclasses import dataclass

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
