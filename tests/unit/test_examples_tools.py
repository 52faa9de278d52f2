"""The retrieval and agent examples run as scripts (subprocesses), offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LATM_BASE_URL")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True, text=True, timeout=240, env=env, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_semantic_retrieval_example_routes_and_detects_unknown() -> None:
    out = run_example("semantic_retrieval.py")
    routes = [line for line in out.splitlines() if line.startswith("route:")]
    assert len(routes) == 3
    assert routes[0].split("->")[1].strip().startswith("sort_words")
    assert routes[1].split("->")[1].strip().startswith("days_between")
    assert "UNKNOWN" in routes[2]
    assert "retriever: sort_words v1" in out


def test_agent_example_uses_a_tool_added_after_construction() -> None:
    out = run_example("agent_with_cached_tools.py")
    assert "before: offered [] -> No cached tool fits" in out
    assert "after: offered ['sort_words']; tool sort_words returned 'banana cherry tomato'" in out
    assert "agent: The answer is: banana cherry tomato" in out
