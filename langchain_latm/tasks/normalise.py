"""Answer normalisers: turn what a tool returned into the form of a BBH gold answer.

Equivalent to (and a superset of) the tool user's post-processing in the paper's release
(``ctlllll/LLM-ToolMaker``, ``tooluser.ipynb``), which

* maps an option index ``1..10`` or a letter ``"A"..."J"`` to ``"(A)"``... ,
* for questions with ``Options:`` maps an answer that is (part of) an option's text to that
  option's label,
* for ``schedule_meeting`` maps ``None`` to ``"No time slot works."`` and a pair
  ``(start, end)`` to ``"start - end"``,
* then compares ``str(answer) == str(gold)``.

Rules here (applied by answer *kind*, chosen from the task name when known, else detected
from the question so unseen tasks work too):

* ``mc`` (lettered ``(A)`` options): an int ``n`` is the 1-based option index (the paper's
  rule), except when every option is a number (``zero``, ``two``, ``3``...) where an int is
  matched by value; a letter in any of the forms ``A``, ``(A)``, ``A)``, ``(a)``,
  ``Option A``, ``(A) text`` -> ``(A)``; option text (exact, then unique whole-word, then
  unique substring match, case-insensitive) -> its label.
* ``choice`` (``- Yes`` / ``- No`` dash options): option text with the option's spelling;
  booleans to the affirmative / negative option.
* ``yesno`` / ``boolexpr``: booleans and their spellings to the task's vocabulary
  (``Yes``/``No``, ``yes``/``no``, ``valid``/``invalid``, ``True``/``False``).
* ``schedule``: ``None`` / ``"no time slot..."`` -> ``No time slot works.``; pairs and
  ``H:MM-H:MM`` strings -> ``HH:MM - HH:MM``.
* ``dyck``: whitespace removed (the paper strips spaces from Dyck inputs and targets);
  lists joined.
* ``words``: lists joined by single spaces; whitespace collapsed.
* ``number``: ``14687``, ``14687.0`` and ``"14687"`` -> ``"14687"``.
* ``shape`` (matrix shapes): ``[2, 3]`` / ``"(2, 3)"`` -> ``"(2,3)"``.

:func:`answers_match` normalises both sides the same way and compares them, tolerating
whitespace runs, the case of categorical words (``Yes``/``yes``) and numeric spelling.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

__all__ = [
    "AnswerKind",
    "answer_kind",
    "answers_match",
    "normalise_answer",
    "parse_dash_options",
    "parse_options",
]

AnswerKind = Literal[
    "mc", "choice", "yesno", "boolexpr", "schedule", "dyck", "words", "number", "shape", "text"
]

NO_SLOT = "No time slot works."
_NO_SLOT_PREFIXES = ("no time slot", "no slot", "no available", "no common", "no meeting")

# Task-name vocabulary for boolean-valued tasks: (affirmative, negative).
_BOOL_VOCAB: dict[str, tuple[str, str]] = {
    "boolean_expressions": ("True", "False"),
    "causal_judgement": ("Yes", "No"),
    "navigate": ("Yes", "No"),
    "web_of_lies": ("Yes", "No"),
    "sports_understanding": ("yes", "no"),
    "formal_fallacies": ("valid", "invalid"),
}

_TASK_KINDS: dict[str, AnswerKind] = {
    "boolean_expressions": "boolexpr",
    "causal_judgement": "yesno",
    "navigate": "yesno",
    "web_of_lies": "yesno",
    "sports_understanding": "yesno",
    "formal_fallacies": "yesno",
    "dyck_languages": "dyck",
    "word_sorting": "words",
    "schedule_meeting": "schedule",
    "chinese_remainder_theorem": "number",
    "multistep_arithmetic_two": "number",
    "object_counting": "number",
    "matrixshapes": "shape",
}
_MC_TASK_PREFIXES: tuple[str, ...] = (
    "date_understanding",
    "disambiguation_qa",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction",
    "movie_recommendation",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "temporal_sequences",
    "tracking_shuffled_objects",
)

_AFFIRMATIVE = {"yes", "true", "valid", "plausible", "correct", "y", "t"}
_NEGATIVE = {"no", "false", "invalid", "implausible", "incorrect", "n", "f"}
_CATEGORICAL = _AFFIRMATIVE | _NEGATIVE

_NUMBER_WORDS: dict[str, int] = {
    word: index
    for index, word in enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        )
    )
}

_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.*?)\s*$")
_DASH_LINE = re.compile(r"^\s*-\s+(.*?)\s*$")
_LETTER_FORMS = (
    re.compile(r"^\(?\s*([A-Z])\s*\)?[.:]?$"),  # A  (A)  A)  (A).  A:
    re.compile(r"^\(\s*([a-z])\s*\)[.:]?$"),  # (a)
    re.compile(r"^\[([A-Z])\]$"),  # [A]
    re.compile(r"^(?:option|answer|choice)\s*[:#]?\s*\(?([A-Z])\)?[.:]?$", re.IGNORECASE),
)
_LABEL_WITH_TEXT = re.compile(r"^\(([A-Za-z])\)\s+\S")
_TIME_RANGE = re.compile(
    r"(\d{1,2})\s*:\s*(\d{2})\s*(?:-|–|—|to|until)\s*(\d{1,2})\s*:\s*(\d{2})", re.IGNORECASE
)
_TIME = re.compile(r"^\s*(\d{1,2})\s*:\s*(\d{2})\s*$")
_BRACKETS = set("()[]{}<>")
_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d{1,6})?", re.ASCII)
_MAX_DIGITS = 1000
_YES_NO_QUESTION = re.compile(
    r"(?:^|[.!?:\n\"]\s*)(?:is|are|was|were|does|do|did|can|could|will|would|should|has|have"
    r"|had)\s[^.!?\n]*\?",
    re.IGNORECASE,
)
_BOOL_EXPR = re.compile(r"^(?:not\s+|\(\s*|\)\s*|True\s*|False\s*|and\s+|or\s+)+is\s*$")


def _options_block(question: str) -> list[str]:
    if "Options:" in question:
        return question.rsplit("Options:", 1)[1].strip("\n").splitlines()
    return []


def parse_options(question: str) -> dict[str, str]:
    """Lettered options of a multiple-choice question.

    Reads the lines after the last ``Options:`` (``(A) text``). Without an ``Options:``
    header, a run of at least two lines ``(A) ...``, ``(B) ...`` starting at ``A`` is used.

    Args:
        question: The question text.

    Returns:
        ``{"A": "text of A", ...}`` in order; empty if the question has no lettered options.
    """
    lines = _options_block(question)
    options: dict[str, str] = {}
    if lines:
        for line in lines:
            match = _OPTION_LINE.match(line)
            if match:
                options.setdefault(match.group(1), match.group(2))
            elif options and line.strip():
                break
        return options
    best: dict[str, str] = {}
    run: dict[str, str] = {}
    for line in [*question.splitlines(), ""]:
        match = _OPTION_LINE.match(line)
        if match and match.group(1) == chr(ord("A") + len(run)):
            run[match.group(1)] = match.group(2)
            continue
        if len(run) >= 2:
            best = run
        run = {"A": match.group(2)} if match and match.group(1) == "A" else {}
    return best


def parse_dash_options(question: str) -> list[str]:
    """Dash-list options of a question (``Options:`` then ``- Yes``, ``- No`` lines), stripped.

    Args:
        question: The question text.

    Returns:
        The option texts in order; empty if the question has no dash options.
    """
    texts: list[str] = []
    for line in _options_block(question):
        match = _DASH_LINE.match(line)
        if match:
            texts.append(match.group(1))
        elif texts and line.strip():
            break
    return texts


def _task_key(task: str | None) -> str:
    if not task:
        return ""
    key = task.strip().lower().replace("-", "_").replace(" ", "_")
    if key.endswith(".json"):
        key = key[: -len(".json")]
    return key.rsplit("/", 1)[-1]


def answer_kind(question: str = "", task: str | None = None) -> AnswerKind:
    """Which normalisation rule applies to answers of a question.

    Args:
        question: The question text (used when the task is unknown, and for options).
        task: The task name, if known (e.g. ``"word_sorting"``).

    Returns:
        One of ``"mc"``, ``"choice"``, ``"yesno"``, ``"boolexpr"``, ``"schedule"``,
        ``"dyck"``, ``"words"``, ``"number"``, ``"shape"``, ``"text"``.
    """
    key = _task_key(task)
    if key in _TASK_KINDS:
        kind = _TASK_KINDS[key]
        if kind == "yesno" and parse_dash_options(question):
            return "choice"
        return kind
    if key.startswith(_MC_TASK_PREFIXES):
        return "mc"
    if parse_options(question):
        return "mc"
    if parse_dash_options(question):
        return "choice"
    lowered = question.lower()
    if "availability" in lowered and "time slot" in lowered:
        return "schedule"
    if "parentheses are closed properly" in lowered or "dyck" in lowered:
        return "dyck"
    if "sort the following words" in lowered:
        return "words"
    if "matrix of shape" in lowered:
        return "shape"
    if _BOOL_EXPR.match(question.strip()):
        return "boolexpr"
    if _YES_NO_QUESTION.search(question):
        return "yesno"
    return "text"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _clean_option_text(text: str) -> str:
    return _collapse(text).strip().rstrip(".").strip().casefold()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _number_value(text: str) -> Decimal | None:
    cleaned = text.strip().casefold()
    if cleaned in _NUMBER_WORDS:
        return Decimal(_NUMBER_WORDS[cleaned])
    if not _NUMERIC.fullmatch(cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def _format_decimal(value: Decimal) -> str:
    if (
        value.is_finite()
        and abs(value.adjusted()) <= _MAX_DIGITS
        and value == value.to_integral_value()
    ):
        return str(int(value))
    return str(value.normalize())


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python will print (sys.get_int_max_str_digits)
        return f"<integer of {value.bit_length()} bits>"


def _format_number(value: float) -> str:
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(value)


def _words(value: Sequence[Any]) -> str:
    return _collapse(" ".join(_scalar_text(v) for v in value))


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return _format_number(value) if isinstance(value, float) else _int_text(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Sequence):
        return _words(value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value).strip()


def _literal_list(text: str) -> list[Any] | None:
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] in "[(" and stripped[-1] in "])":
        try:
            parsed = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        if isinstance(parsed, list | tuple):
            return list(parsed)
    return None


# --- per-kind rules -------------------------------------------------------------------


def _letter_of(text: str, options: Mapping[str, str]) -> str | None:
    stripped = text.strip()
    for pattern in _LETTER_FORMS:
        match = pattern.match(stripped)
        if match:
            letter = match.group(1).upper()
            if not options or letter in options:
                return letter
    match = _LABEL_WITH_TEXT.match(stripped)
    if match:
        letter = match.group(1).upper()
        if not options or letter in options:
            return letter
    # A lone lower-case letter ("b"): a label when no option reads "b".
    if len(stripped) == 1 and "a" <= stripped <= "z":
        if not options:
            return stripped.upper()
        if stripped.upper() in options and all(
            _clean_option_text(t) != stripped for t in options.values()
        ):
            return stripped.upper()
    return None


def _numeric_options(options: Mapping[str, str]) -> dict[str, Decimal] | None:
    values: dict[str, Decimal] = {}
    for letter, text in options.items():
        number = _number_value(text)
        if number is None:
            return None
        values[letter] = number
    return values or None


def _match_option_text(text: str, options: Mapping[str, str]) -> str | None:
    target = _clean_option_text(text)
    if not target:
        return None
    exact = [k for k, v in options.items() if _clean_option_text(v) == target]
    if exact:
        return exact[0]
    word = re.compile(r"(?<!\w)" + re.escape(target) + r"(?!\w)")
    whole = [k for k, v in options.items() if word.search(_clean_option_text(v))]
    if len(whole) == 1:
        return whole[0]
    if whole:
        return None
    partial = [k for k, v in options.items() if target in _clean_option_text(v)]
    if len(partial) == 1:
        return partial[0]
    return None


def _normalise_mc(value: Any, question: str) -> str:
    options = parse_options(question)
    numeric = _numeric_options(options) if options else None
    if isinstance(value, list | tuple):
        if len(value) == 1:
            return _normalise_mc(value[0], question)
        return _words(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    as_int = _as_int(value)
    if as_int is not None:
        if numeric is not None:
            hits = [k for k, v in numeric.items() if v == as_int]
            return f"({hits[0]})" if hits else _int_text(as_int)
        limit = len(options) if options else 26
        if 1 <= as_int <= limit:
            return f"({chr(ord('A') + as_int - 1)})"
        return _int_text(as_int)
    if isinstance(value, float):
        return _format_number(value)
    text = _collapse(_scalar_text(value))
    letter = _letter_of(text, options)
    if letter is not None:
        return f"({letter})"
    if options:
        if numeric is not None:
            number = _number_value(text)
            if number is not None:
                hits = [k for k, v in numeric.items() if v == number]
                if hits:
                    return f"({hits[0]})"
        matched = _match_option_text(text, options)
        if matched is not None:
            return f"({matched})"
    return text


def _vocab(question: str, task: str | None, kind: AnswerKind) -> tuple[str, str]:
    key = _task_key(task)
    if key in _BOOL_VOCAB:
        return _BOOL_VOCAB[key]
    if kind == "boolexpr":
        return ("True", "False")
    if "plausible" in question.lower():  # BBH sports_understanding spells yes/no in lower case
        return ("yes", "no")
    return ("Yes", "No")


def _polarity(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        folded = value.strip().rstrip(".!").strip().casefold()
        if folded in _AFFIRMATIVE:
            return True
        if folded in _NEGATIVE:
            return False
    return None


def _normalise_choice(value: Any, question: str, task: str | None) -> str:
    texts = parse_dash_options(question)
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        target = _clean_option_text(value)
        for text in texts:
            if _clean_option_text(text) == target:
                return text.strip()
    polarity = _polarity(value)
    if polarity is not None:
        affirmative = [t for t in texts if _clean_option_text(t) in _AFFIRMATIVE]
        negative = [t for t in texts if _clean_option_text(t) in _NEGATIVE]
        if polarity and affirmative:
            return affirmative[0].strip()
        if not polarity and negative:
            return negative[0].strip()
        yes, no = _vocab(question, task, "choice")
        return yes if polarity else no
    return _collapse(_scalar_text(value))


def _normalise_yesno(value: Any, question: str, task: str | None, kind: AnswerKind) -> str:
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    polarity = _polarity(value)
    if polarity is not None:
        yes, no = _vocab(question, task, kind)
        return yes if polarity else no
    return _collapse(_scalar_text(value))


def _pad_time(hours: str, minutes: str) -> str:
    return f"{int(hours):02d}:{minutes}"


def _normalise_schedule(value: Any) -> str:
    if value is None:
        return NO_SLOT
    if isinstance(value, Mapping):
        start = value.get("start")
        end = value.get("end")
        if start is not None and end is not None:
            return _normalise_schedule([start, end])
        return _scalar_text(value)
    if isinstance(value, list | tuple):
        if not value:
            return NO_SLOT
        if isinstance(value[0], list | tuple | Mapping):
            return _normalise_schedule(value[0])
        if len(value) == 2:
            start, end = (_scalar_text(v) for v in value)
            return _normalise_schedule(f"{start} - {end}")
        return _words(value)
    text = _collapse(_scalar_text(value))
    folded = text.casefold().rstrip(".")
    empty = {"", "none", "null", "no", "no slot", "no time slot"}
    if folded in empty or folded.startswith(_NO_SLOT_PREFIXES):
        return NO_SLOT
    match = _TIME_RANGE.search(text)
    if match:
        h1, m1, h2, m2 = match.groups()
        return f"{_pad_time(h1, m1)} - {_pad_time(h2, m2)}"
    return text


def _normalise_dyck(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "".join(_scalar_text(v) for v in value).replace(" ", "")
    return "".join(_scalar_text(value).split())


def _normalise_words(value: Any) -> str:
    if isinstance(value, list | tuple):
        return _words(value)
    if isinstance(value, str):
        parsed = _literal_list(value)
        if parsed is not None and all(isinstance(v, str) for v in parsed):
            return _words(parsed)
    return _collapse(_scalar_text(value))


def _normalise_number(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return _format_number(value)
    text = _collapse(_scalar_text(value))
    number = _number_value(text)
    if number is not None and text.casefold() not in _NUMBER_WORDS:
        return _format_decimal(number)
    return text


def _normalise_shape(value: Any) -> str:
    if isinstance(value, list | tuple) and all(_as_int(v) is not None for v in value):
        return "(" + ",".join(str(_as_int(v)) for v in value) + ")"
    text = _scalar_text(value)
    parsed = _literal_list(text)
    if parsed is not None and all(_as_int(v) is not None for v in parsed):
        return "(" + ",".join(str(_as_int(v)) for v in parsed) + ")"
    return "".join(text.split())


def _normalise_text(value: Any, question: str) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return _format_number(value)
    return _collapse(_scalar_text(value))


def normalise_answer(value: Any, *, question: str = "", task: str | None = None) -> str:
    """Convert a tool's answer (any JSON value) to the form of a BBH gold answer.

    Args:
        value: What the tool-use snippet left in ``ans`` (str, int, float, bool, list,
            dict or None), or a gold answer string.
        question: The question the answer is for; its ``Options:`` decide option mapping,
            and its wording selects the rule when ``task`` is unknown.
        task: The task name (e.g. ``"schedule_meeting"``), if known.

    Returns:
        The normalised answer string, e.g. ``"(B)"``, ``"10:30 - 12:00"``,
        ``"No time slot works."``, ``"])}"``, ``"apple banana"``, ``"Yes"``, ``"14687"``.
        ``None`` normalises to ``""`` (no answer) except for schedule questions.

    Example:
        >>> q = "Which?" + chr(10) + "Options:" + chr(10) + "(A) Patrick" + chr(10) + "(B) Sam"
        >>> normalise_answer("Sam", question=q), normalise_answer(1, question=q)
        ('(B)', '(A)')
    """
    kind = answer_kind(question, task)
    if kind == "mc":
        return _normalise_mc(value, question)
    if kind == "choice":
        return _normalise_choice(value, question, task)
    if kind in ("yesno", "boolexpr"):
        return _normalise_yesno(value, question, task, kind)
    if kind == "schedule":
        return _normalise_schedule(value)
    if kind == "dyck":
        return _normalise_dyck(value)
    if kind == "words":
        return _normalise_words(value)
    if kind == "number":
        return _normalise_number(value)
    if kind == "shape":
        return _normalise_shape(value)
    return _normalise_text(value, question)


def _comparison_key(text: str) -> str:
    collapsed = _collapse(text)
    folded = collapsed.rstrip(".").casefold()
    if folded in _CATEGORICAL:
        return folded
    return collapsed


def answers_match(
    predicted: Any, gold: Any, *, question: str = "", task: str | None = None
) -> bool:
    """Whether a predicted answer equals the gold answer after normalisation.

    Both sides go through :func:`normalise_answer` with the same question and task.
    Beyond exact equality, runs of whitespace, the case of categorical words
    (``Yes``/``yes``, ``valid``/``Valid``, ``True``/``true``), numeric spelling
    (``24`` / ``24.0``) and, for bracket-only answers (Dyck), all whitespace are tolerated.
    An empty prediction (``None``, ``""``) never matches.

    Args:
        predicted: The tool's answer (any JSON value).
        gold: The gold answer (normally the BBH target string).
        question: The question both answers are for.
        task: The task name, if known.

    Returns:
        True if the answers match.
    """
    pred = normalise_answer(predicted, question=question, task=task)
    want = normalise_answer(gold, question=question, task=task)
    if not pred.strip():
        return False
    if pred == want:
        return True
    if _comparison_key(pred) == _comparison_key(want):
        return True
    want_polarity = _polarity(want)
    if want_polarity is not None and _polarity(predicted) is want_polarity:
        return True
    if set(want) - {" "} <= _BRACKETS and "".join(pred.split()) == "".join(want.split()):
        return True
    pred_number = _number_value(pred)
    want_number = _number_value(want)
    if (
        pred_number is not None
        and want_number is not None
        and pred.strip().casefold() not in _NUMBER_WORDS
        and want.strip().casefold() not in _NUMBER_WORDS
    ):
        return pred_number == want_number
    return False
