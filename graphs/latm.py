"""Deployable LATM graph for LangGraph Server / Studio (``langgraph.json`` -> ``latm``).

Importing this module needs no API key and creates nothing: models, repository and sandbox
are resolved per run, from the run context (``LATMContext``: ``maker_model``, ``user_model``,
``base_url``, ``repo_path``) or from the environment (``LATM_MAKER_MODEL``,
``LATM_USER_MODEL``, ``LATM_BASE_URL``, ``LATM_REPO``).

Input: ``{"question": "...", "task": "word_sorting" | TaskSpec JSON | null}``.
"""

from __future__ import annotations

from langchain_latm.latm import build_latm_graph

graph = build_latm_graph().compile()
graph.name = "latm"
