"""Repository behaviour shared by the embedded (unit) and the Chroma-server (integration) tests.

A test module subclasses :class:`RepositoryCases` and provides a ``make_repo`` fixture: a
factory ``make_repo(**kwargs) -> ToolRepository`` that opens the SAME store on every call
(so a second call is "another process/instance looking at the same data").
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from langchain_latm.embeddings import HashingEmbeddings
from langchain_latm.errors import (
    EmbeddingMismatchError,
    RepositoryError,
    TamperedToolError,
    ToolNotFoundError,
    ToolValidationError,
)
from langchain_latm.repository import TamperedToolWarning, ToolRepository
from langchain_latm.schemas import UseCase, VerificationReport, WrappedTool

MakeRepo = Callable[..., ToolRepository]


def make_tool(
    name: str = "sort_words",
    *,
    task: str = "word_sorting",
    description: str = "Sort a list of words alphabetically and join them with spaces.",
    body: str = "return ' '.join(sorted(words.split()))",
    questions: tuple[str, ...] = (
        "Sort the following words alphabetically: List: pear apple fig",
        "Sort the following words alphabetically: List: zebra mango",
    ),
    verified: bool = False,
) -> WrappedTool:
    code = f"def {name}(words: str) -> str:\n    {body}\n"
    cases = [UseCase(question=q, snippet=f"ans = {name}({q.split(': ')[-1]!r})") for q in questions]
    tool = WrappedTool(name=name, task=task, description=description, code=code, use_cases=cases)
    if verified:
        tool = tool.model_copy(
            update={
                "verification": VerificationReport(
                    verified=True, verified_by="harness", verified_tool_id=tool.tool_id
                )
            }
        )
    return tool


DATE_TOOL = dict(
    name="date_diff",
    task="date_understanding",
    description="Compute a date from a reference date and an offset in days, months or years.",
    body="return words",
    questions=(
        "Today is Christmas Eve of 1937. What is the date tomorrow in MM/DD/YYYY?",
        "Yesterday was April 30, 2021. What is the date today in MM/DD/YYYY?",
    ),
)
NAVIGATE_TOOL = dict(
    name="navigate",
    task="navigate",
    description="Follow step instructions (take steps forward, turn left or right) and tell "
    "whether you end at the starting point.",
    body="return words",
    questions=(
        "If you follow these instructions, do you return to the starting point? Take 3 steps. "
        "Turn around. Take 3 steps.",
    ),
)


def fast_embeddings() -> HashingEmbeddings:
    return HashingEmbeddings(dimension=512)


def raw_update_json(
    repo: ToolRepository, record_id: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Tamper with a stored tool through the raw Chroma collection (as an attacker would)."""
    col = repo._col()
    got = col.get(ids=[record_id], include=["metadatas"])
    meta = dict(got["metadatas"][0])
    data = json.loads(meta["tool_json"])
    edit(data)
    meta["tool_json"] = json.dumps(data)
    col.update(ids=[record_id], metadatas=[meta])


class RepositoryCases:
    """The repository contract; run once per storage mode."""

    # ------------------------------------------------------------ basics

    def test_add_then_get_round_trips_the_tool(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        tool = make_tool()
        stored = repo.add(tool)
        assert stored.version == 1
        assert stored.tool_id == tool.tool_id
        got = repo.get("sort_words")
        assert got.code == tool.code and got.use_cases == tool.use_cases
        assert got.description == tool.description and got.version == 1

    def test_identical_content_is_a_no_op_and_changes_make_new_versions(
        self, make_repo: MakeRepo
    ) -> None:
        repo = make_repo()
        first = repo.add(make_tool())
        again = repo.add(make_tool())
        assert again.version == 1 and again.tool_id == first.tool_id
        changed = repo.add(make_tool(body="return ' '.join(sorted(words.split(), key=str.lower))"))
        assert changed.version == 2 and changed.tool_id != first.tool_id
        assert repo.versions("sort_words") == [1, 2]
        assert repo.get("sort_words").version == 2
        assert repo.get("sort_words", version=1).tool_id == first.tool_id
        assert len(repo) == 1

    def test_verifying_stored_content_creates_a_verified_version(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        upgraded = repo.add(make_tool(verified=True))
        assert upgraded.version == 2 and upgraded.verified
        # re-adding the unverified copy does not downgrade the latest
        assert repo.add(make_tool()).version == 2

    def test_list_returns_latest_version_of_every_tool(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        repo.add(make_tool(body="return words"))
        repo.add(make_tool(**DATE_TOOL))
        listed = repo.list()
        assert [(t.name, t.version) for t in listed] == [("date_diff", 1), ("sort_words", 2)]
        assert len(repo) == 2 and "date_diff" in repo and "nope" not in repo

    def test_remove_one_version_or_all(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        repo.add(make_tool(body="return words"))
        assert repo.remove("sort_words", version=2) == 1
        assert repo.versions("sort_words") == [1]
        assert repo.get("sort_words").version == 1
        assert repo.remove("sort_words") == 1
        assert repo.versions("sort_words") == []
        with pytest.raises(ToolNotFoundError):
            repo.get("sort_words")
        with pytest.raises(ToolNotFoundError):
            repo.remove("sort_words")
        assert repo.search("sort these words", k=3) == []

    @pytest.mark.parametrize("name", ["missing", "../../x", "class", ""])
    def test_unknown_names_raise_tool_not_found(self, make_repo: MakeRepo, name: str) -> None:
        repo = make_repo()
        repo.add(make_tool())
        with pytest.raises(ToolNotFoundError):
            repo.get(name)
        with pytest.raises(ToolNotFoundError):
            repo.get("sort_words", version=7)

    def test_invalid_tools_are_refused_and_nothing_is_stored(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        good = make_tool()
        bad_name = good.model_copy(update={"name": "../../x"})
        bad_code = good.model_copy(update={"code": "def broken(:\n"})
        for bad in (bad_name, bad_code):
            with pytest.raises(ToolValidationError):
                repo.add(bad)
        with pytest.raises(ToolValidationError):
            repo.add({"name": "x"})  # type: ignore[arg-type]
        assert len(repo) == 0 and repo.list() == []

    def test_store_persists_across_instances(self, make_repo: MakeRepo) -> None:
        make_repo().add(make_tool())
        other = make_repo()
        assert other.get("sort_words").version == 1
        assert other.search("Sort the following words alphabetically: List: b a")[0][0].name == (
            "sort_words"
        )

    # ------------------------------------------------------------ search

    def test_search_ranks_the_matching_tool_first(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add_many([make_tool(), make_tool(**DATE_TOOL), make_tool(**NAVIGATE_TOOL)])
        cases = {
            "Sort the following words alphabetically: List: oven zebra apple": "sort_words",
            "Today is 3/5/1990. What is the date one week from today in MM/DD/YYYY?": "date_diff",
            "If you follow these instructions, do you return to the starting point? "
            "Turn left. Take 5 steps.": "navigate",
        }
        for question, expected in cases.items():
            hits = repo.search(question, k=3)
            assert hits[0][0].name == expected, hits
            scores = [s for _, s in hits]
            assert scores == sorted(scores, reverse=True)
            assert all(-1.0001 <= s <= 1.0001 for s in scores)
            assert len({t.name for t, _ in hits}) == len(hits) == 3

    def test_search_returns_latest_versions_unless_asked(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        repo.add(make_tool(body="return words"))
        hits = repo.search("Sort the following words alphabetically", k=5)
        assert [(t.name, t.version) for t, _ in hits] == [("sort_words", 2)]
        both = repo.search("Sort the following words alphabetically", k=5, all_versions=True)
        assert sorted(t.version for t, _ in both) == [1, 2]

    def test_search_many_matches_single_searches(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add_many([make_tool(), make_tool(**DATE_TOOL), make_tool(**NAVIGATE_TOOL)])
        questions = ["Sort these words: b a", "What is the date tomorrow?", "Take 3 steps."]
        batch = repo.search_many(questions, k=2)
        for question, hits in zip(questions, batch, strict=True):
            single = repo.search(question, k=2)
            assert [t.name for t, _ in hits] == [t.name for t, _ in single]
            assert [s for _, s in hits] == pytest.approx([s for _, s in single], abs=1e-5)

    def test_centroid_aggregation_scores_one_vector_per_tool(self, make_repo: MakeRepo) -> None:
        make_repo().add_many([make_tool(), make_tool(**DATE_TOOL)])
        repo = make_repo(aggregate="centroid")
        hits = repo.search("Sort the following words alphabetically: List: cat dog", k=2)
        assert hits[0][0].name == "sort_words"
        max_hits = make_repo().search("Sort the following words alphabetically: List: cat dog")
        assert max_hits[0][1] >= hits[0][1]  # max over vectors >= cosine to their centroid

    def test_search_sees_writes_made_by_another_instance(self, make_repo: MakeRepo) -> None:
        reader = make_repo()
        reader.add(make_tool())
        assert [t.name for t, _ in reader.search("date tomorrow", k=5)] == ["sort_words"]
        make_repo().add(make_tool(**DATE_TOOL))
        names = [t.name for t, _ in reader.search("What is the date tomorrow?", k=5)]
        assert names[0] == "date_diff"
        make_repo().remove("date_diff")
        assert [t.name for t, _ in reader.search("What is the date tomorrow?", k=5)] == [
            "sort_words"
        ]

    def test_orphan_vectors_are_ignored_and_reported(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        # a half-written version: vectors without the designated tool record
        vec = repo.embeddings.embed_documents(["What is the date tomorrow?"])[0]
        repo._col().add(
            ids=["date_diff@v1#1.deadbeef"],
            embeddings=[vec],
            documents=["What is the date tomorrow?"],
            metadatas=[{"latm": 1, "kind": "usecase", "name": "date_diff", "version": 1,
                        "tool_id": "deadbeef" * 4}],
        )
        fresh = make_repo()
        assert [t.name for t, _ in fresh.search("What is the date tomorrow?", k=5)] == [
            "sort_words"
        ]
        assert "date_diff" not in fresh and fresh.versions("date_diff") == []
        assert [p.kind for p in fresh.check()] == ["orphan"]

    # ------------------------------------------------------------ tampering

    def test_edited_code_is_detected_on_get_search_list_and_check(
        self, make_repo: MakeRepo
    ) -> None:
        repo = make_repo()
        repo.add(make_tool(verified=True))
        repo.add(make_tool(**DATE_TOOL))

        def inject(data: dict[str, Any]) -> None:
            data["code"] = data["code"] + "\nimport os\nos.system('echo pwned')\n"

        raw_update_json(repo, "sort_words@v1", inject)
        fresh = make_repo()
        with pytest.raises(TamperedToolError) as info:
            fresh.get("sort_words")
        assert info.value.name == "sort_words" and info.value.expected_id != info.value.actual_id
        with pytest.raises(TamperedToolError):
            fresh.search("Sort the following words alphabetically: List: b a", k=1)
        hits = fresh.search(
            "Sort the following words alphabetically: List: b a", k=2, skip_tampered=True
        )
        assert [t.name for t, _ in hits] == ["date_diff"]
        with pytest.warns(TamperedToolWarning):
            listed = fresh.list()
        assert [t.name for t in listed] == ["date_diff"]
        with pytest.raises(TamperedToolError):
            fresh.list(strict=True)
        problems = fresh.check()
        assert [(p.kind, p.record_id) for p in problems] == [("tampered", "sort_words@v1")]

    def test_consistently_rehashed_edit_still_fails_verification(self, make_repo: MakeRepo) -> None:
        """An attacker who also rewrites the recorded tool_id defeats the hash check, but the
        verification report still names the verified content, so the tool is not verified."""
        repo = make_repo()
        repo.add(make_tool(verified=True))
        col = repo._col()
        meta = dict(col.get(ids=["sort_words@v1"], include=["metadatas"])["metadatas"][0])
        data = json.loads(meta["tool_json"])
        data["code"] += "\n# edited\n"
        edited = WrappedTool.model_validate(data)
        data["tool_id"] = edited.tool_id
        meta["tool_json"], meta["tool_id"] = json.dumps(data), edited.tool_id
        col.update(ids=["sort_words@v1"], metadatas=[meta])
        got = make_repo().get("sort_words")
        assert got.verified is False

    def test_unreadable_json_is_a_clear_error(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add(make_tool())
        col = repo._col()
        meta = dict(col.get(ids=["sort_words@v1"], include=["metadatas"])["metadatas"][0])
        meta["tool_json"] = "{not json"
        col.update(ids=["sort_words@v1"], metadatas=[meta])
        with pytest.raises(RepositoryError, match="unreadable"):
            make_repo().get("sort_words")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TamperedToolWarning)
            assert make_repo().list() == []
        assert [p.kind for p in make_repo().check()] == ["unreadable"]

    # ------------------------------------------------------------ embeddings

    def test_other_embedding_is_detected_and_reindex_rebuilds(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        repo.add_many([make_tool(), make_tool(**DATE_TOOL)])
        before = {t.name: t.tool_id for t in repo.list()}
        other = HashingEmbeddings(dimension=300)
        with pytest.raises(EmbeddingMismatchError) as info:
            make_repo(embeddings=other)
        assert "latm tools reindex" in str(info.value)
        assert info.value.stored == repo.embedding_id
        assert info.value.configured == other.embedding_id
        lenient = make_repo(embeddings=other, strict_embedding=False)
        assert {t.name for t in lenient.list()} == set(before)
        with pytest.raises(EmbeddingMismatchError):
            lenient.search("sort these words")
        with pytest.raises(EmbeddingMismatchError):
            lenient.add(make_tool(**NAVIGATE_TOOL))
        rebuilt = make_repo(embeddings=other, reindex=True)
        assert {t.name: t.tool_id for t in rebuilt.list()} == before
        hits = rebuilt.search("Sort the following words alphabetically: List: b a", k=1)
        assert hits[0][0].name == "sort_words"
        assert make_repo(embeddings=HashingEmbeddings(dimension=300)).get("date_diff").version == 1
        with pytest.raises(EmbeddingMismatchError):
            make_repo()  # the original embedding is now the mismatched one

    def test_foreign_collection_is_refused_and_left_untouched(self, make_repo: MakeRepo) -> None:
        repo = make_repo()
        client = repo._client
        name = repo.collection_name + "_foreign"
        foreign = client.create_collection(name, embedding_function=None)
        foreign.add(ids=["a"], embeddings=[[0.1, 0.2, 0.3]], documents=["their data"])
        with pytest.raises(RepositoryError, match="not created by langchain-latm"):
            make_repo(collection_name=name)
        assert client.get_collection(name).get(ids=["a"])["documents"] == ["their data"]

    # ------------------------------------------------------------ concurrency (threads)

    def test_concurrent_adds_from_threads_get_distinct_versions(
        self, make_repo: MakeRepo
    ) -> None:
        repos = [make_repo() for _ in range(4)]
        errors: list[BaseException] = []
        stored: list[WrappedTool] = []
        lock = threading.Lock()

        def worker(index: int) -> None:
            try:
                for j in range(3):
                    tool = make_tool(body=f"return words  # writer {index} edit {j}")
                    result = repos[index % len(repos)].add(tool)
                    with lock:
                        stored.append(result)
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        versions = make_repo().versions("sort_words")
        assert versions == list(range(1, 19))
        assert sorted(t.version for t in stored) == versions
        by_version = {v: make_repo().get("sort_words", v).tool_id for v in versions}
        assert len(set(by_version.values())) == 18
        assert {t.version: t.tool_id for t in stored} == by_version
        assert make_repo().check() == []

    def test_lenient_instance_with_other_embedding_keeps_recorded_embedding(
        self, make_repo: MakeRepo
    ) -> None:
        repo = make_repo()
        repo.add_many([make_tool(), make_tool(**DATE_TOOL)])
        lenient = make_repo(embeddings=HashingEmbeddings(dimension=64), strict_embedding=False)
        assert lenient.remove("date_diff") == 1
        again = make_repo()  # still opens with the original embedding: id not overwritten
        assert [t.name for t, _ in again.search("Sort the following words", k=5)] == [
            "sort_words"
        ]
