"""Where tests that measure something record their figures.

A plain test run leaves the checkout unchanged: figures are written only when
``$LATM_RESULTS_DIR`` names a directory (``LATM_RESULTS_DIR=bench/results pytest ...`` to
refresh the committed files). They are always printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV = "LATM_RESULTS_DIR"


def record(file_name: str, key: str, figures: dict[str, Any]) -> Path | None:
    """Print ``figures`` and, if ``$LATM_RESULTS_DIR`` is set, merge them into its file.

    Returns:
        The file written, or ``None`` when the variable is unset.
    """
    print(f"\n{key}:", json.dumps(figures, indent=2, sort_keys=True))
    directory = os.environ.get(ENV)
    if not directory:
        return None
    path = Path(directory) / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:  # a broken file is replaced, not merged into
            data = {}
    data[key] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
