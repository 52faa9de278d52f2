"""Benchmarks behind ``latm bench``: each module measures one thing.

Every benchmark prints a table with its baseline side by side and writes
``bench/results/<name>.json``.
"""
