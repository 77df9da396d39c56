"""Held-out measurement: the d2l book's MXNet programs run against hybrid (bench/d2l/run.py)."""
