"""Benchmarks behind ``latm bench``: each module measures one thing and writes bench/results/*.json."""
