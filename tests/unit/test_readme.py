"""The README's quickstart is two commands, and CI runs exactly the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "quickstart must have a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_is_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "latm demo" in commands[0] or "latm sandbox-check" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r'^TEST_CMD="(.*)"$', ci, re.M)
    assert match, ".ci/run must define TEST_CMD"
    assert match.group(1) == quickstart_commands()[1]
    assert 'bash -c "$TEST_CMD"' in ci
