"""Load BIG-Bench Hard task files as :class:`~langchain_latm.schemas.TaskSpec` objects.

The paper's split: examples 0-4 are the train split (the maker proposes from the first
three), 5-9 the validation split (the maker verifies on the first three), 10+ the test
split. For Dyck languages the paper removes the spaces in the part after ``Input: `` and in
the target; :func:`load_bbh_task` does the same.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from langchain_latm.errors import DataNotFoundError, LATMError
from langchain_latm.schemas import Demonstration, TaskSpec
from langchain_latm.tasks.data import find_data_dir

__all__ = [
    "PAPER_TASKS",
    "BBHExample",
    "BBHFile",
    "bbh_task_description",
    "load_bbh_examples",
    "load_bbh_task",
    "strip_dyck_spaces",
]

PAPER_TASKS: tuple[str, ...] = (
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_five_objects",
    "dyck_languages",
    "word_sorting",
    "chinese_remainder_theorem",
    "schedule_meeting",
)
"""The six tasks the LATM paper evaluates."""

TRAIN_END = 5
VAL_END = 10


class BBHExample(BaseModel):
    """One example of a BBH task file."""

    model_config = ConfigDict(extra="allow")

    input: str
    target: str


class BBHFile(BaseModel):
    """A BBH task file: ``{"examples": [{"input", "target"}], ...}``."""

    model_config = ConfigDict(extra="allow")

    examples: list[BBHExample]
    description: str | None = None


def strip_dyck_spaces(question: str, answer: str) -> tuple[str, str]:
    """Apply the paper's Dyck preprocessing: no spaces after ``Input: `` nor in the target.

    Args:
        question: A Dyck-languages question (``"... Input: [ { <"``).
        answer: Its target (``"> } ]"``).

    Returns:
        ``(question, answer)`` with the sequence and the target space-free.
    """
    if "Input: " in question:
        head, tail = question.split("Input: ", 1)
        question = f"{head}Input: {tail.replace(' ', '')}"
    return question, answer.replace(" ", "")


def _task_key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LATMError(f"cannot read BBH task file {path}: {exc}") from exc


def _parse_file(path: Path) -> BBHFile:
    try:
        return BBHFile.model_validate(_read_json(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LATMError(f"{path} is not a BBH task file ({where}: {first['msg']})") from exc


def _task_path(
    name: str, data_dir: str | os.PathLike[str] | None, allow_download: bool | None
) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".json" and candidate.is_file():
        return candidate
    directory = find_data_dir(data_dir, kind="bbh", allow_download=allow_download)
    key = _task_key(candidate.stem if candidate.suffix == ".json" else name)
    path = directory / f"{key}.json"
    if not path.is_file():
        available = sorted(p.stem for p in directory.glob("*.json"))
        raise DataNotFoundError(
            f"unknown BBH task {name!r} (no {path.name} in {directory}); available: "
            + (", ".join(available) or "none"),
            looked_in=[str(path)],
        )
    return path


def bbh_task_description(
    name: str, data_dir: str | os.PathLike[str] | None = None, *, bbh_dir: Path | None = None
) -> str:
    """A short human description of a task.

    Taken from the first line of its chain-of-thought prompt (``bbh-cot/<name>.txt``, after
    the canary line and ``-----``) when present, else from the task file's ``description``,
    else derived from the name.

    Args:
        name: Task name.
        data_dir: Data root (see :func:`~langchain_latm.tasks.data.find_data_dir`).
        bbh_dir: The ``bbh`` directory already located (its sibling ``bbh-cot`` is tried first).

    Returns:
        One line such as ``"Sort a list of words."``.
    """
    key = _task_key(name)
    candidates: list[Path] = []
    if bbh_dir is not None:
        candidates.append(bbh_dir.parent / "bbh-cot" / f"{key}.txt")
    # The prompts are optional: fall back to the task file / the name.
    with contextlib.suppress(DataNotFoundError):
        cot_dir = find_data_dir(data_dir, kind="bbh-cot", allow_download=False)
        candidates.append(cot_dir / f"{key}.txt")
    for path in candidates:
        if path.is_file():
            line = _first_prompt_line(path.read_text(encoding="utf-8", errors="replace"))
            if line:
                return line
    if bbh_dir is not None and (bbh_dir / f"{key}.json").is_file():
        raw = _read_json(bbh_dir / f"{key}.json")
        if isinstance(raw, dict) and isinstance(raw.get("description"), str):
            return str(raw["description"]).strip()
    return f"BIG-Bench Hard task: {key.replace('_', ' ')}."


def _first_prompt_line(text: str) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("BENCHMARK DATA SHOULD NEVER") or set(line) <= {"-"}:
            continue
        if line.lower().startswith("task description:"):
            line = line.split(":", 1)[1].strip()
        return line
    return ""


def load_bbh_examples(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool | None = None,
    strip_dyck: bool | None = None,
) -> list[Demonstration]:
    """All examples of a BBH task file, in file order, with the paper's preprocessing.

    Args:
        name: Task name (``"word_sorting"``) or a path to a BBH-format ``.json`` file.
        data_dir: Data root or ``bbh`` directory (see ``find_data_dir``).
        allow_download: Allow fetching BBH files into the user cache when none are found.
        strip_dyck: Remove Dyck spaces; default: only for ``dyck_languages``.

    Returns:
        One :class:`Demonstration` per example.

    Raises:
        DataNotFoundError: No data directory, or no such task (lists the available ones).
        LATMError: The file is not a valid BBH task file.
    """
    path = _task_path(name, data_dir, allow_download)
    parsed = _parse_file(path)
    if strip_dyck is None:
        strip_dyck = _task_key(path.stem) == "dyck_languages"
    demos: list[Demonstration] = []
    for example in parsed.examples:
        question, answer = example.input, example.target
        if strip_dyck:
            question, answer = strip_dyck_spaces(question, answer)
        demos.append(Demonstration(question=question, answer=answer))
    return demos


def load_bbh_task(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool | None = None,
    n_train: int = TRAIN_END,
    n_val: int = VAL_END - TRAIN_END,
    max_test: int | None = None,
    strip_dyck: bool | None = None,
) -> TaskSpec:
    """Load a BBH task with the paper's split.

    Examples 0-4 form ``train`` (the maker proposes from the first 3), 5-9 ``val`` (it
    verifies on the first 3), 10+ ``test``. For ``dyck_languages`` spaces are removed after
    ``Input: `` and in the targets, as in the paper.

    Args:
        name: Task name (``"word_sorting"``; spaces/hyphens/case tolerated) or a path to any
            BBH-format ``.json`` file.
        data_dir: Data root (``../shared/data``) or ``bbh`` directory; default: the lookup
            order of ``DESIGN.md`` ("Data location").
        allow_download: Allow fetching BBH files into the user cache when none are found
            (default: ``$LATM_ALLOW_DOWNLOAD``).
        n_train: Size of the train split (paper: 5).
        n_val: Size of the validation split (paper: 5).
        max_test: Keep only the first ``max_test`` test examples.
        strip_dyck: Remove Dyck spaces; default: only for ``dyck_languages``.

    Returns:
        The task, with ``description`` from the task's CoT prompt header.

    Raises:
        DataNotFoundError: No data found, or unknown task (the message lists available tasks).
        LATMError: The file is not a valid BBH task file.
        ValueError: Negative split sizes.

    Example:
        >>> task = load_bbh_task("word_sorting")  # doctest: +SKIP
        >>> len(task.train), len(task.val), len(task.test)  # doctest: +SKIP
        (5, 5, 245)
    """
    if n_train < 0 or n_val < 0 or (max_test is not None and max_test < 0):
        raise ValueError("split sizes must be >= 0")
    path = _task_path(name, data_dir, allow_download)
    demos = load_bbh_examples(
        str(path),
        strip_dyck=(
            strip_dyck if strip_dyck is not None else _task_key(path.stem) == "dyck_languages"
        ),
    )
    train = demos[:n_train]
    val = demos[n_train : n_train + n_val]
    test = demos[n_train + n_val :]
    if max_test is not None:
        test = test[:max_test]
    key = _task_key(path.stem)
    description = bbh_task_description(key, data_dir, bbh_dir=path.parent)
    return TaskSpec(name=key, description=description, train=train, val=val, test=test)
