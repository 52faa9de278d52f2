"""``latm tools``: list, show, export, remove, check, reindex on an embedded store."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import typer
from repository_cases import DATE_TOOL, make_tool, raw_update_json
from typer.testing import CliRunner

from langchain_latm.cli.tools import export_python, register
from langchain_latm.embeddings import HashingEmbeddings
from langchain_latm.repository import ToolRepository


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _main() -> None:
        """Test root."""

    register(root)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    repo = ToolRepository(path, embeddings=HashingEmbeddings())  # the CLI's "hashing"
    repo.add_many([make_tool(verified=True), make_tool(**DATE_TOOL)])
    return path


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_text_and_json(app: typer.Typer, store: Path) -> None:
    code, out, _ = run(app, "tools", "list", "--repo", str(store))
    assert code == 0 and "sort_words" in out and "date_diff" in out and "verified" in out
    code, out, _ = run(app, "tools", "list", "--repo", str(store), "--json")
    data = json.loads(out)
    assert [d["name"] for d in data] == ["date_diff", "sort_words"]
    assert data[1]["verified"] is True and data[1]["version"] == 1


def test_repo_from_environment(app: typer.Typer, store: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATM_REPO", str(store))
    code, out, _ = run(app, "tools", "list", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_show_and_export(app: typer.Typer, store: Path, tmp_path: Path) -> None:
    code, out, _ = run(app, "tools", "show", "sort_words", "--repo", str(store))
    assert code == 0 and "def sort_words" in out and "Q: Sort the following" in out
    out_file = tmp_path / "sort_words.py"
    code, out, _ = run(app, "tools", "export", "sort_words", "--format", "py", "--out",
                       str(out_file), "--repo", str(store))
    assert code == 0
    module = ast.parse(out_file.read_text())
    doc = ast.get_docstring(module) or ""
    assert "Use cases:" in doc and "Sort the following words" in doc
    assert any(isinstance(n, ast.FunctionDef) and n.name == "sort_words" for n in module.body)
    code, out, _ = run(app, "tools", "export", "sort_words", "--format", "langchain-json",
                       "--repo", str(store))
    assert code == 0, out
    schema = json.loads(out)
    assert schema["function"]["name"] == "sort_words"
    assert "words" in schema["function"]["parameters"]["properties"]


def test_export_python_escapes_docstring_breakers() -> None:
    tool = make_tool(questions=('Sort: """ end \\ of doc',))
    ast.parse(export_python(tool))


def test_errors_are_one_line_exit_1(app: typer.Typer, store: Path, tmp_path: Path) -> None:
    code, out, err = run(app, "tools", "show", "nope", "--repo", str(store))
    assert code == 1 and "no tool named 'nope'" in err and "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "chroma.sqlite3").write_bytes(b"garbage" * 100)
    code, out, err = run(app, "tools", "list", "--repo", str(bad))
    assert code == 1 and err.startswith("error: cannot open") and "Traceback" not in err


def test_remove_and_check_and_reindex(app: typer.Typer, store: Path) -> None:
    code, out, _ = run(app, "tools", "remove", "date_diff", "--yes", "--repo", str(store))
    assert code == 0 and "removed 1" in out
    code, out, _ = run(app, "tools", "check", "--repo", str(store), "--embedding", "hashing")
    assert code == 0 and "no problems" in out, out
    raw_update_json(ToolRepository(store, embeddings=HashingEmbeddings()), "sort_words@v1",
                    lambda d: d.update(code=d["code"] + "\n# edited\n"))
    code, out, _ = run(app, "tools", "check", "--repo", str(store), "--embedding", "hashing")
    assert code == 1 and "tampered: sort_words@v1" in out
    code, out, err = run(app, "tools", "list", "--repo", str(store))
    assert code == 0 and "warning: skipped sort_words@v1" in err
    code, out, _ = run(app, "tools", "reindex", "--repo", str(store), "--embedding", "hybrid")
    assert code == 0 and "reindexed" in out and "hybrid" in out
    with pytest.raises(Exception, match="reindex"):
        ToolRepository(store, embeddings=HashingEmbeddings())
