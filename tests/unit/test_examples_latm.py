"""The LATM examples run as scripts (subprocesses), offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("OPENAI_API_KEY", "LATM_BASE_URL")}
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True, text=True, timeout=240, env=full_env, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_compose_subgraph_example(data_dir: Path) -> None:
    out = run_example("compose_subgraph.py", "--data-dir", str(data_dir))
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == 4
    assert lines[0].startswith("[canned]")
    assert lines[1].startswith("[made]") and "via tool" in lines[1]
    assert lines[2].startswith("[cached]") and "via tool" in lines[2]
    assert lines[3].startswith("[unknown]") and "UnknownTask" in lines[3]
    assert "recorded GPT-4 output, replayed" in out
    assert "latm" in out and "make_tool" in out  # the nested graph drawing


def test_live_example_skips_cleanly_without_credentials() -> None:
    out = run_example("live_openai_compatible.py")
    assert out.startswith("skipped:")
