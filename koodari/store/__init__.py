"""The study file: the only code in koodari that speaks SQL.

``schema`` holds the migrations, ``study`` the ``Study`` class (opening, transactions, every query),
``records`` the typed records its methods return. Other modules import from here.
"""

from koodari.store.records import (
    Category,
    CodedQuote,
    Coding,
    Decision,
    Document,
    ExportedCoding,
    ModelVersion,
    Neighbour,
    Question,
    Record,
    Selection,
    UnitListing,
)
from koodari.store.schema import (
    APPLICATION_ID,
    DEFAULT_QUESTION,
    LEVELS,
    MIGRATIONS,
    PARENT_LEVEL,
    THEME_QUESTION_KEY,
)
from koodari.store.study import (
    AmbiguousCategory,
    DatabaseError,
    PlaceTaken,
    Study,
    TreeConflict,
    check_study_file,
    now,
)

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_QUESTION",
    "LEVELS",
    "MIGRATIONS",
    "PARENT_LEVEL",
    "THEME_QUESTION_KEY",
    "AmbiguousCategory",
    "Category",
    "CodedQuote",
    "Coding",
    "Decision",
    "Document",
    "ExportedCoding",
    "Neighbour",
    "Question",
    "Selection",
    "UnitListing",
    "DatabaseError",
    "ModelVersion",
    "PlaceTaken",
    "Record",
    "Study",
    "TreeConflict",
    "check_study_file",
    "now",
]
