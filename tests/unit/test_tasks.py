"""BBH loading (paper split, Dyck stripping, descriptions) and data location/download."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import langchain_latm
from langchain_latm.errors import DataNotFoundError, LATMError
from langchain_latm.tasks import (
    PAPER_TASKS,
    answers_match,
    cache_dir,
    download_data,
    find_data_dir,
    list_bbh_tasks,
    list_recorded_sessions,
    load_bbh_task,
    recorded_session_path,
)
from langchain_latm.tasks import data as data_mod

_SHARED = Path(
    os.environ.get("LATM_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data")
)
ALL_BBH = sorted(p.stem for p in (_SHARED / "bbh").glob("*.json"))


def _raw(bbh_dir: Path, name: str) -> list[dict[str, str]]:
    examples: list[dict[str, str]] = json.loads((bbh_dir / f"{name}.json").read_text())["examples"]
    return examples


# --- loading ------------------------------------------------------------------------


def test_every_bbh_file_is_listed(bbh_dir: Path) -> None:
    names = list_bbh_tasks(bbh_dir.parent)
    assert names == sorted(p.stem for p in bbh_dir.glob("*.json"))
    assert len(names) == 30  # 27 BBH + CRT, schedule_meeting, matrixshapes
    assert set(PAPER_TASKS) <= set(names)


@pytest.mark.parametrize("name", ALL_BBH)
def test_every_bbh_file_loads_with_paper_split(bbh_dir: Path, name: str) -> None:
    raw = _raw(bbh_dir, name)
    task = load_bbh_task(name, data_dir=bbh_dir.parent)
    assert task.name == name
    assert len(task.train) == 5 and len(task.val) == 5
    assert len(task.test) == len(raw) - 10
    assert task.description and "\n" not in task.description
    if name != "dyck_languages":
        assert [d.question for d in task.train] == [e["input"] for e in raw[:5]]
        assert [d.answer for d in task.val] == [e["target"] for e in raw[5:10]]
        assert task.test[0].question == raw[10]["input"]
        assert task.test[-1].answer == raw[-1]["target"]
    # Every gold answer is a fixed point of its normaliser and matches itself.
    for demo in task.train + task.val + task.test[:40]:
        assert answers_match(demo.answer, demo.answer, question=demo.question, task=name)


def test_data_dir_may_be_the_bbh_directory_itself(bbh_dir: Path) -> None:
    task = load_bbh_task("word_sorting", data_dir=bbh_dir)
    assert task.train[0].answer == _raw(bbh_dir, "word_sorting")[0]["target"]


def test_task_name_spelling_and_file_path_are_accepted(bbh_dir: Path, tmp_path: Path) -> None:
    assert load_bbh_task("Word Sorting", data_dir=bbh_dir).name == "word_sorting"
    custom = tmp_path / "my_task.json"
    examples = [{"input": f"q{i}", "target": f"a{i}"} for i in range(13)]
    custom.write_text(json.dumps({"examples": examples}))
    task = load_bbh_task(str(custom))
    assert task.name == "my_task"
    assert [d.answer for d in task.train] == ["a0", "a1", "a2", "a3", "a4"]
    assert [d.answer for d in task.val] == ["a5", "a6", "a7", "a8", "a9"]
    assert [d.answer for d in task.test] == ["a10", "a11", "a12"]
    assert task.description == "BIG-Bench Hard task: my task."


def test_split_sizes_and_max_test_are_configurable(bbh_dir: Path) -> None:
    task = load_bbh_task("word_sorting", data_dir=bbh_dir, n_train=3, n_val=2, max_test=7)
    raw = _raw(bbh_dir, "word_sorting")
    assert [d.answer for d in task.val] == [e["target"] for e in raw[3:5]]
    assert [d.answer for d in task.test] == [e["target"] for e in raw[5:12]]
    with pytest.raises(ValueError):
        load_bbh_task("word_sorting", data_dir=bbh_dir, n_train=-1)


def test_dyck_spaces_are_removed_after_input_and_in_targets(bbh_dir: Path) -> None:
    raw = _raw(bbh_dir, "dyck_languages")
    task = load_bbh_task("dyck_languages", data_dir=bbh_dir)
    demos = task.train + task.val + task.test
    assert len(demos) == len(raw)
    for demo, example in zip(demos, raw, strict=True):
        head, tail = example["input"].split("Input: ", 1)
        assert demo.question == f"{head}Input: {tail.replace(' ', '')}"
        assert " " not in demo.question.split("Input: ", 1)[1]
        assert demo.answer == example["target"].replace(" ", "")
        assert " " in head  # the instruction keeps its spaces
    assert task.train[0].question.endswith("Input: [[") and task.train[0].answer == "]]"


def test_other_tasks_keep_their_spaces(bbh_dir: Path) -> None:
    task = load_bbh_task("word_sorting", data_dir=bbh_dir)
    assert task.train[1].answer.count(" ") >= 10


def _demos_in(prompt: str) -> list[tuple[str, str]]:
    return [
        (q.strip(), a.strip())
        for q, a in re.findall(r"Question: (.*?)\nAnswer: (.*?)\n", prompt + "\n", re.S)
    ]


def test_first_three_train_and_val_reproduce_the_recorded_prompts(
    bbh_dir: Path, recorded_dir: Path
) -> None:
    sessions = sorted(p.stem for p in recorded_dir.glob("*.json"))
    assert sessions, "no recorded sessions"
    for name in sessions:
        task = load_bbh_task(name, data_dir=bbh_dir)
        messages = json.loads((recorded_dir / f"{name}.json").read_text())
        prompts = [m["content"] for m in messages if m["role"] == "user"]
        propose = _demos_in(prompts[0])
        verify = next(_demos_in(p) for p in prompts[1:] if _demos_in(p))
        assert propose == [(d.question, d.answer) for d in task.train[:3]], name
        assert verify == [(d.question, d.answer) for d in task.val[:3]], name


def test_description_comes_from_the_cot_prompt_header(bbh_dir: Path) -> None:
    assert load_bbh_task("word_sorting", data_dir=bbh_dir).description == "Sort a list of words."
    temporal = load_bbh_task("temporal_sequences", data_dir=bbh_dir).description
    assert temporal.startswith("Answer questions about which times")  # "Task description:" dropped


def test_description_falls_back_to_the_task_file(bbh_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "bbh").mkdir()
    src = bbh_dir / "chinese_remainder_theorem.json"
    (tmp_path / "bbh" / src.name).write_text(src.read_text())
    task = load_bbh_task("chinese_remainder_theorem", data_dir=tmp_path)
    assert task.description == json.loads(src.read_text())["description"]


def test_unknown_task_lists_available_tasks_in_one_line(bbh_dir: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_bbh_task("no_such_task", data_dir=bbh_dir)
    message = str(info.value)
    assert "no_such_task" in message and "word_sorting" in message and "dyck_languages" in message
    assert "\n" not in message
    assert isinstance(info.value, LATMError)


def test_invalid_task_file_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"examples": [{"input": "q"}]}))
    with pytest.raises(LATMError, match="not a BBH task file"):
        load_bbh_task(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LATMError, match="cannot read"):
        load_bbh_task(str(broken))


def test_recorded_sessions(recorded_dir: Path) -> None:
    names = list_recorded_sessions(recorded_dir.parent)
    assert names == sorted(p.stem for p in recorded_dir.glob("*.json"))
    path = recorded_session_path("word_sorting", recorded_dir.parent)
    assert path == (recorded_dir / "word_sorting.json").resolve()
    assert json.loads(path.read_text())[0]["role"] == "user"
    with pytest.raises(DataNotFoundError, match=r"available: .*word_sorting"):
        recorded_session_path("boolean_expressions", recorded_dir.parent)


# --- data location precedence ---------------------------------------------------------


def _fake_root(root: Path, tasks: dict[str, list[tuple[str, str]]]) -> Path:
    (root / "bbh").mkdir(parents=True)
    for name, pairs in tasks.items():
        examples = [{"input": q, "target": a} for q, a in pairs]
        (root / "bbh" / f"{name}.json").write_text(json.dumps({"examples": examples}))
    return root


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No env var, cwd and package tree moved to empty places, cache in tmp."""
    monkeypatch.delenv("LATM_DATA_DIR", raising=False)
    monkeypatch.delenv("LATM_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    work = tmp_path / "work" / "checkout"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    fake_pkg = tmp_path / "site" / "checkout2" / "langchain_latm" / "__init__.py"
    monkeypatch.setattr(langchain_latm, "__file__", str(fake_pkg))
    return tmp_path


def _pairs(tag: str) -> list[tuple[str, str]]:
    return [(f"{tag} q{i}", f"{tag} a{i}") for i in range(12)]


def test_nothing_found_names_every_place_in_one_line(isolated: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        find_data_dir()
    message = str(info.value)
    assert "\n" not in message
    assert str((isolated / "work" / "shared" / "data").resolve()) in message
    assert str(isolated / "site" / "shared" / "data") in message
    assert str(isolated / "cache" / "langchain-latm" / "bbh") in message
    assert len(info.value.looked_in) == 3
    with pytest.raises(DataNotFoundError):
        load_bbh_task("word_sorting")


def test_cwd_relative_shared_data_is_found(isolated: Path) -> None:
    _fake_root(isolated / "work" / "shared" / "data", {"word_sorting": _pairs("cwd")})
    assert load_bbh_task("word_sorting").train[0].answer == "cwd a0"


def test_package_relative_shared_data_is_found(isolated: Path) -> None:
    _fake_root(isolated / "site" / "shared" / "data", {"word_sorting": _pairs("pkg")})
    assert load_bbh_task("word_sorting").train[0].answer == "pkg a0"


def test_env_beats_defaults_and_explicit_beats_env(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_root(isolated / "work" / "shared" / "data", {"word_sorting": _pairs("cwd")})
    env_root = _fake_root(isolated / "env", {"word_sorting": _pairs("env")})
    explicit = _fake_root(isolated / "explicit", {"word_sorting": _pairs("explicit")})
    monkeypatch.setenv("LATM_DATA_DIR", str(env_root))
    assert load_bbh_task("word_sorting").train[0].answer == "env a0"
    assert load_bbh_task("word_sorting", data_dir=explicit).train[0].answer == "explicit a0"
    assert find_data_dir(explicit / "bbh") == (explicit / "bbh").resolve()


def test_env_without_data_falls_back_to_defaults(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_root(isolated / "work" / "shared" / "data", {"word_sorting": _pairs("cwd")})
    monkeypatch.setenv("LATM_DATA_DIR", str(isolated / "empty"))
    assert load_bbh_task("word_sorting").train[0].answer == "cwd a0"
    monkeypatch.chdir(isolated)
    with pytest.raises(DataNotFoundError, match=r"\$LATM_DATA_DIR="):
        find_data_dir()


def test_explicit_missing_dir_is_an_error_even_if_defaults_exist(isolated: Path) -> None:
    _fake_root(isolated / "work" / "shared" / "data", {"word_sorting": _pairs("cwd")})
    with pytest.raises(DataNotFoundError) as info:
        load_bbh_task("word_sorting", data_dir=isolated / "nowhere")
    assert str(isolated / "nowhere") in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown data kind"):
        find_data_dir(kind="videos")


# --- download into the user cache (fake opener, no sockets) ---------------------------


class FakeOrigin:
    """Serves plausible files for every URL and records the requests."""

    def __init__(self, missing: set[str] | None = None) -> None:
        self.urls: list[str] = []
        self.missing = missing or set()

    def __call__(self, url: str, timeout: float) -> bytes:
        self.urls.append(url)
        name = url.rsplit("/", 1)[1]
        if name in self.missing:
            raise OSError(f"HTTP Error 404: {name}")
        stem = name.rsplit(".", 1)[0]
        if "/tools/" in url:
            return json.dumps([{"role": "user", "content": f"session {stem}"}]).encode()
        if url.endswith(".txt"):
            return f"canary\n-----\nDescription of {stem}.\n\nQ: ...".encode()
        examples = [{"input": f"{stem} q{i}", "target": f"a{i}"} for i in range(11)]
        return json.dumps({"examples": examples}).encode()


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "langchain-latm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "langchain-latm"


def test_download_only_when_allowed_then_served_from_cache(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = FakeOrigin()
    with pytest.raises(DataNotFoundError):
        find_data_dir(opener=origin)
    assert origin.urls == []  # never fetched without permission

    found = find_data_dir(allow_download=True, opener=origin)
    assert found == (isolated / "cache" / "langchain-latm" / "bbh").resolve()
    assert "downloading bbh data" in capsys.readouterr().err
    assert all(u.startswith("https://raw.githubusercontent.com/") for u in origin.urls)
    assert any(
        "suzgunmirac/BIG-Bench-Hard" in u and u.endswith("/bbh/word_sorting.json")
        for u in origin.urls
    )
    assert any(
        "ctlllll/LLM-ToolMaker" in u and u.endswith("/bbh/schedule_meeting.json")
        for u in origin.urls
    )
    assert len(list(found.glob("*.json"))) == 30

    # Later calls use the cache without fetching again.
    again = FakeOrigin()
    assert find_data_dir(opener=again) == found
    assert again.urls == []
    task = load_bbh_task("word_sorting")
    assert task.train[0].question == "word_sorting q0" and len(task.test) == 1


def test_download_is_allowed_by_env_and_uses_urllib(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = FakeOrigin()
    opened: list[str] = []

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.close()

    def fake_urlopen(url: str, timeout: float) -> Response:
        opened.append(url)
        return Response(origin(url, timeout))

    monkeypatch.setattr(data_mod.urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setenv("LATM_ALLOW_DOWNLOAD", "1")
    path = recorded_session_path("word_sorting")
    assert path.parent == (isolated / "cache" / "langchain-latm" / "recorded").resolve()
    assert json.loads(path.read_text())[0]["content"] == "session word_sorting"
    assert opened and all("ctlllll/LLM-ToolMaker/main/tools/" in u for u in opened)


def test_download_of_optional_files_tolerates_404(tmp_path: Path) -> None:
    origin = FakeOrigin(missing={"schedule_meeting.txt", "chinese_remainder_theorem.txt"})
    messages: list[str] = []
    target = download_data("bbh-cot", cache_root=tmp_path, opener=origin, announce=messages.append)
    assert messages and "bbh-cot" in messages[0]
    assert (target / "word_sorting.txt").is_file()
    assert not (target / "schedule_meeting.txt").exists()


def test_failed_required_download_raises_and_leaves_no_complete_cache(
    tmp_path: Path,
) -> None:
    origin = FakeOrigin(missing={"word_sorting.json"})
    with pytest.raises(DataNotFoundError, match=r"word_sorting\.json"):
        download_data("bbh", cache_root=tmp_path, opener=origin, announce=lambda _m: None)
    assert not (tmp_path / "bbh" / ".complete").exists()


def test_download_rejects_invalid_payloads(tmp_path: Path) -> None:
    def garbage(url: str, timeout: float) -> bytes:
        return b"<html>rate limited</html>"

    with pytest.raises(DataNotFoundError):
        download_data("recorded", cache_root=tmp_path, opener=garbage, announce=lambda _m: None)
    assert (
        not list((tmp_path / "recorded").glob("*.json"))
        if (tmp_path / "recorded").exists()
        else True
    )


def test_default_opener_refuses_plain_http() -> None:
    with pytest.raises(ValueError, match="non-https"):
        data_mod._urllib_opener("http://example.com/x.json", 1.0)
