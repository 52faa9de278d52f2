"""Where task data lives: BBH files, chain-of-thought prompts and recorded sessions.

The package never vendors third-party data or recorded model output. Following the
"Data location" section of ``DESIGN.md``, data is looked up, in order, at:

1. the explicit ``data_dir=`` argument (authoritative: when given, nothing else is tried);
2. ``$LATM_DATA_DIR``;
3. ``../shared/data`` beside the checkout, relative to the current working directory and
   relative to the package source tree;
4. the user cache (``$XDG_CACHE_HOME/langchain-latm`` or ``~/.cache/langchain-latm``),
   where a previous download put it;
5. only when explicitly allowed (``allow_download=True`` or ``$LATM_ALLOW_DOWNLOAD=1``):
   a download from the public origin (the BIG-Bench Hard repository for BBH files and
   prompts, the paper's repository ``ctlllll/LLM-ToolMaker`` for the two tasks it added and
   its recorded sessions) into the user cache, announced on stderr and in the log.

When nothing is found a :class:`~langchain_latm.errors.DataNotFoundError` is raised whose
message is one line naming every place that was looked in.

A *data root* holds one sub-directory per kind: ``bbh/`` (``*.json`` task files),
``bbh-cot/`` (``*.txt`` few-shot prompts) and ``recorded/`` (``*.json`` conversations).
Any place above may be given either as a data root or as the kind directory itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from langchain_latm.errors import DataNotFoundError

__all__ = [
    "BBH_BASE_URL",
    "BBH_TASKS",
    "DATA_KINDS",
    "PAPER_BASE_URL",
    "PAPER_RECORDED_SESSIONS",
    "PAPER_REPO_TASKS",
    "DataKind",
    "cache_dir",
    "download_data",
    "find_data_dir",
    "list_bbh_tasks",
    "list_recorded_sessions",
    "recorded_session_path",
]

logger = logging.getLogger(__name__)

DataKind = Literal["bbh", "bbh-cot", "recorded"]
DATA_KINDS: tuple[str, ...] = ("bbh", "bbh-cot", "recorded")
_SUFFIX: dict[str, str] = {"bbh": ".json", "bbh-cot": ".txt", "recorded": ".json"}

BBH_BASE_URL = "https://raw.githubusercontent.com/suzgunmirac/BIG-Bench-Hard/main"
"""Raw-file origin of the BIG-Bench Hard task files (``bbh/``) and prompts (``cot-prompts/``)."""

PAPER_BASE_URL = "https://raw.githubusercontent.com/ctlllll/LLM-ToolMaker/main"
"""Raw-file origin of the LATM paper's release (its two extra tasks and recorded sessions)."""

BBH_TASKS: tuple[str, ...] = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)
"""The 27 task files of the BIG-Bench Hard repository."""

PAPER_REPO_TASKS: tuple[str, ...] = (
    "chinese_remainder_theorem",
    "matrixshapes",
    "schedule_meeting",
)
"""Task files that only the paper's repository has (in its ``bbh/``, beside the BBH ones)."""

PAPER_RECORDED_SESSIONS: tuple[str, ...] = (
    "chinese_remainder_theorem",
    "dyck_languages",
    "logical_deduction_five_objects",
    "schedule_meeting",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "word_sorting",
)
"""Recorded tool-making sessions to try fetching from the paper's ``tools/`` directory."""

Opener = Callable[[str, float], bytes]
"""Fetches a URL and returns its body: ``opener(url, timeout) -> bytes``."""

_ENV_DATA_DIR = "LATM_DATA_DIR"
_ENV_ALLOW_DOWNLOAD = "LATM_ALLOW_DOWNLOAD"
_COMPLETE_MARKER = ".complete"


def _check_kind(kind: str) -> None:
    if kind not in _SUFFIX:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {', '.join(DATA_KINDS)}")


def _has_files(directory: Path, kind: str) -> bool:
    try:
        return directory.is_dir() and any(
            p.suffix == _SUFFIX[kind] and p.is_file() for p in directory.iterdir()
        )
    except OSError:
        return False


def _resolve_kind_dir(place: Path, kind: str) -> Path | None:
    """Return the kind directory for ``place`` (a data root or the kind dir itself)."""
    sub = place / kind
    if _has_files(sub, kind):
        return sub
    # ``place`` may be the kind directory itself (e.g. ``data_dir="../shared/data/bbh"``),
    # or a sibling kind directory (``.../bbh`` given while looking for ``bbh-cot``).
    if place.name == kind and _has_files(place, kind):
        return place
    if place.name in _SUFFIX and place.name != kind:
        sibling = place.parent / kind
        if _has_files(sibling, kind):
            return sibling
    if place.name not in _SUFFIX and _has_files(place, kind) and kind == "bbh":
        # A bare directory of BBH-format task files.
        return place
    return None


def cache_dir() -> Path:
    """The user cache directory for downloaded data.

    Returns:
        ``$XDG_CACHE_HOME/langchain-latm`` if ``XDG_CACHE_HOME`` is set, else
        ``~/.cache/langchain-latm``. The directory is not created.
    """
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "langchain-latm"


def _default_places() -> list[tuple[str, Path]]:
    places: list[tuple[str, Path]] = []
    places.append(("../shared/data (from cwd)", (Path.cwd() / ".." / "shared" / "data")))
    import langchain_latm

    package_file = Path(langchain_latm.__file__).resolve()
    beside = package_file.parents[2] / "shared" / "data"
    places.append(("../shared/data (beside the checkout)", beside))
    return places


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def find_data_dir(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    kind: str = "bbh",
    allow_download: bool | None = None,
    opener: Opener | None = None,
) -> Path:
    """Locate the directory holding one kind of task data.

    Args:
        data_dir: Explicit place to use: a data root (holding ``bbh/``, ``bbh-cot/``,
            ``recorded/``) or the kind directory itself. When given it is the only place
            looked in (a wrong explicit path is an error, not silently replaced).
        kind: ``"bbh"`` (task files), ``"bbh-cot"`` (CoT prompts) or ``"recorded"``
            (recorded tool-making sessions).
        allow_download: Fetch the data from its public origin into the user cache when it
            is found nowhere else. ``None`` reads ``$LATM_ALLOW_DOWNLOAD`` (``1``/``true``).
        opener: Replaces the HTTP fetcher (``opener(url, timeout) -> bytes``); for tests.

    Returns:
        The directory containing the kind's files (e.g. ``.../shared/data/bbh``).

    Raises:
        DataNotFoundError: Nothing found; the one-line message names every place looked in.
        ValueError: ``kind`` is not a known data kind.
    """
    _check_kind(kind)
    looked: list[str] = []
    if data_dir is not None:
        place = Path(data_dir).expanduser()
        found = _resolve_kind_dir(place, kind)
        if found is not None:
            return found.resolve()
        looked.append(f"data_dir={place}")
        raise DataNotFoundError(
            f"{kind} data not found; looked in: {'; '.join(looked)} "
            "(an explicit data_dir is not replaced by other locations)",
            looked_in=looked,
        )

    env = os.environ.get(_ENV_DATA_DIR)
    if env:
        place = Path(env).expanduser()
        found = _resolve_kind_dir(place, kind)
        if found is not None:
            return found.resolve()
        looked.append(f"${_ENV_DATA_DIR}={place}")
        logger.warning(
            "$%s=%s holds no %s data; trying other locations", _ENV_DATA_DIR, place, kind
        )

    for label, place in _default_places():
        found = _resolve_kind_dir(place, kind)
        if found is not None:
            return found.resolve()
        entry = f"{place.resolve()} [{label}]"
        if entry not in looked:
            looked.append(entry)

    cache_root = cache_dir()
    cached = cache_root / kind
    if (cached / _COMPLETE_MARKER).is_file() and _has_files(cached, kind):
        return cached.resolve()
    looked.append(f"{cached} [user cache]")

    if allow_download is None:
        allow_download = _env_flag(_ENV_ALLOW_DOWNLOAD)
    if allow_download:
        return download_data(kind, cache_root=cache_root, opener=opener)

    raise DataNotFoundError(
        f"{kind} data not found; looked in: {'; '.join(looked)}; pass data_dir=, set "
        f"${_ENV_DATA_DIR}, or allow a download (allow_download=True / {_ENV_ALLOW_DOWNLOAD}=1)",
        looked_in=looked,
    )


def _urls_for(kind: str) -> list[tuple[str, list[str], bool]]:
    """``(file name, candidate URLs, required)`` for every file of ``kind``."""
    files: list[tuple[str, list[str], bool]] = []
    if kind == "bbh":
        for task in BBH_TASKS:
            files.append((f"{task}.json", [f"{BBH_BASE_URL}/bbh/{task}.json"], True))
        for task in PAPER_REPO_TASKS:
            files.append((f"{task}.json", [f"{PAPER_BASE_URL}/bbh/{task}.json"], True))
    elif kind == "bbh-cot":
        for task in BBH_TASKS:
            files.append((f"{task}.txt", [f"{BBH_BASE_URL}/cot-prompts/{task}.txt"], True))
        for task in PAPER_REPO_TASKS:
            files.append((f"{task}.txt", [f"{PAPER_BASE_URL}/cot-prompts/{task}.txt"], False))
    else:
        for task in PAPER_RECORDED_SESSIONS:
            files.append((f"{task}.json", [f"{PAPER_BASE_URL}/tools/{task}.json"], False))
    return files


def _urllib_opener(url: str, timeout: float) -> bytes:
    if not url.startswith("https://"):
        raise ValueError(f"refusing to fetch a non-https URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body


def _validate(kind: str, name: str, body: bytes) -> None:
    text = body.decode("utf-8")
    if kind == "bbh":
        payload = json.loads(text)
        if not isinstance(payload, dict) or not isinstance(payload.get("examples"), list):
            raise ValueError(f"{name}: not a BBH task file (no 'examples' list)")
    elif kind == "recorded":
        payload = json.loads(text)
        if not isinstance(payload, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in payload
        ):
            raise ValueError(f"{name}: not a recorded session (list of role/content messages)")


def _write_atomic(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download_data(
    kind: str = "bbh",
    *,
    cache_root: str | os.PathLike[str] | None = None,
    opener: Opener | None = None,
    timeout: float = 30.0,
    announce: Callable[[str], None] | None = None,
) -> Path:
    """Fetch one kind of data from its public origin into the user cache.

    BBH task files and CoT prompts come from the BIG-Bench Hard repository
    (``suzgunmirac/BIG-Bench-Hard``); the two tasks the paper added and its recorded
    sessions come from the paper's repository (``ctlllll/LLM-ToolMaker``). Every file is
    validated before it is written (atomically); the directory is marked complete only when
    every required file arrived.

    Args:
        kind: ``"bbh"``, ``"bbh-cot"`` or ``"recorded"``.
        cache_root: Where to put it (default: :func:`cache_dir`); files go to ``<root>/<kind>``.
        opener: ``opener(url, timeout) -> bytes``; defaults to ``urllib`` over https.
        timeout: Per-request timeout in seconds.
        announce: Receives one human message before the download starts (default: stderr).

    Returns:
        The directory holding the downloaded files.

    Raises:
        DataNotFoundError: A required file could not be fetched or was not valid.
    """
    _check_kind(kind)
    root = Path(cache_root) if cache_root is not None else cache_dir()
    target = root / kind
    fetch: Opener = opener if opener is not None else _urllib_opener
    origin = (
        "the paper's repository (ctlllll/LLM-ToolMaker)"
        if kind == "recorded"
        else (
            "the BIG-Bench Hard repository (suzgunmirac/BIG-Bench-Hard) and ctlllll/LLM-ToolMaker"
        )
    )
    message = f"langchain-latm: downloading {kind} data from {origin} into {target}"
    logger.warning(message)
    if announce is None:
        print(message, file=sys.stderr)
    else:
        announce(message)

    fetched = 0
    for name, urls, required in _urls_for(kind):
        errors: list[str] = []
        for url in urls:
            try:
                body = fetch(url, timeout)
                _validate(kind, name, body)
            except (OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            _write_atomic(target / name, body)
            fetched += 1
            break
        else:
            if required:
                raise DataNotFoundError(
                    f"could not download {kind} file {name}: {'; '.join(errors)}",
                    looked_in=list(urls),
                )
            logger.info("optional %s file %s not available: %s", kind, name, "; ".join(errors))
    if fetched == 0:
        raise DataNotFoundError(
            f"could not download any {kind} file into {target}",
            looked_in=[u for _, urls, _ in _urls_for(kind) for u in urls],
        )
    (target / _COMPLETE_MARKER).write_text("ok\n", encoding="utf-8")
    return target.resolve()


def _names(directory: Path, kind: str) -> list[str]:
    suffix = _SUFFIX[kind]
    return sorted(p.stem for p in directory.iterdir() if p.suffix == suffix and p.is_file())


def list_bbh_tasks(
    data_dir: str | os.PathLike[str] | None = None, *, allow_download: bool | None = None
) -> list[str]:
    """Names of the BBH task files available (sorted).

    Args:
        data_dir: Explicit data root or ``bbh`` directory (see :func:`find_data_dir`).
        allow_download: Allow fetching the files when they are found nowhere.

    Returns:
        Task names such as ``"word_sorting"``.

    Raises:
        DataNotFoundError: No BBH data directory was found.
    """
    directory = find_data_dir(data_dir, kind="bbh", allow_download=allow_download)
    return _names(directory, "bbh")


def list_recorded_sessions(
    data_dir: str | os.PathLike[str] | None = None, *, allow_download: bool | None = None
) -> list[str]:
    """Names of the recorded tool-making sessions available (sorted).

    Args:
        data_dir: Explicit data root or ``recorded`` directory (see :func:`find_data_dir`).
        allow_download: Allow fetching the sessions when they are found nowhere.

    Returns:
        Task names such as ``"word_sorting"``.

    Raises:
        DataNotFoundError: No recorded-session directory was found.
    """
    directory = find_data_dir(data_dir, kind="recorded", allow_download=allow_download)
    return _names(directory, "recorded")


def recorded_session_path(
    task: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool | None = None,
) -> Path:
    """Path of the recorded tool-making session for ``task``.

    Args:
        task: Task name (``"word_sorting"``) or a path to a session JSON file.
        data_dir: Explicit data root or ``recorded`` directory (see :func:`find_data_dir`).
        allow_download: Allow fetching the sessions when they are found nowhere.

    Returns:
        The ``.json`` file of the session.

    Raises:
        DataNotFoundError: No such session (the message lists the available ones).
    """
    as_path = Path(task)
    if as_path.suffix == ".json" and as_path.is_file():
        return as_path.resolve()
    directory = find_data_dir(data_dir, kind="recorded", allow_download=allow_download)
    stem = as_path.stem if as_path.suffix == ".json" else task
    path = directory / f"{stem}.json"
    if not path.is_file():
        available = ", ".join(_names(directory, "recorded")) or "none"
        raise DataNotFoundError(
            f"no recorded session {stem!r} in {directory}; available: {available}",
            looked_in=[str(path)],
        )
    return path
