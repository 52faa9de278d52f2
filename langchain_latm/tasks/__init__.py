"""Tasks and data: BBH loading with the paper's split, answer normalisers, generators.

- :func:`load_bbh_task` reads a BIG-Bench Hard task file into a
  :class:`~langchain_latm.schemas.TaskSpec` (examples 0-4 train, 5-9 validation, 10+ test;
  the paper's Dyck space stripping).
- :func:`normalise_answer` / :func:`answers_match` post-process a tool's answer the way the
  paper's tool user did (option index / letter / text -> ``(X)``, schedule-meeting format...).
- :func:`generate_task` makes fresh, seeded instances with gold answers at any size.
- :func:`find_data_dir` & co. resolve where the data lives (``DESIGN.md``, "Data location").
"""

from __future__ import annotations

from langchain_latm.tasks.bbh import (
    PAPER_TASKS,
    bbh_task_description,
    load_bbh_examples,
    load_bbh_task,
    strip_dyck_spaces,
)
from langchain_latm.tasks.data import (
    cache_dir,
    download_data,
    find_data_dir,
    list_bbh_tasks,
    list_recorded_sessions,
    recorded_session_path,
)
from langchain_latm.tasks.generators import (
    GENERATORS,
    GeneratorSpec,
    generate_examples,
    generate_task,
    list_generators,
)
from langchain_latm.tasks.normalise import (
    answer_kind,
    answers_match,
    normalise_answer,
    parse_dash_options,
    parse_options,
)

__all__ = [
    "GENERATORS",
    "PAPER_TASKS",
    "GeneratorSpec",
    "answer_kind",
    "answers_match",
    "bbh_task_description",
    "cache_dir",
    "download_data",
    "find_data_dir",
    "generate_examples",
    "generate_task",
    "list_bbh_tasks",
    "list_generators",
    "list_recorded_sessions",
    "load_bbh_examples",
    "load_bbh_task",
    "normalise_answer",
    "parse_dash_options",
    "parse_options",
    "recorded_session_path",
    "strip_dyck_spaces",
]
