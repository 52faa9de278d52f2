"""Deployable tool-making graph (``langgraph.json``: ``latm_maker``).

The model is chosen per run, never at import: the run context (``{"model": ...,
"base_url": ...}``, see ``langchain_latm.maker.MakerContext``) or ``$LATM_MAKER_MODEL`` /
``$LATM_BASE_URL``. Importing this module needs no API key. Input:
``{"task": TaskSpec.model_dump(mode="json")}``; output: ``tool`` (a ``WrappedTool`` dump) or
``failure``.
"""

from __future__ import annotations

from langchain_latm.maker import build_maker_graph

graph = build_maker_graph().compile(name="latm_maker")

__all__ = ["graph"]
