"""Opt-in logging by category: HYBRID_LOG=recompiles,compile,fusion (or 'all'; hb.config(log=...)).

Logged events are never silent fallbacks: a recompile or an unfused op says why.
"""
from __future__ import annotations

import logging

from .config import config

logger = logging.getLogger("hybrid")


def enabled(category: str) -> bool:
    wanted = config.get("log")
    return "all" in wanted or category in wanted


def log(category: str, message: str) -> None:
    """Log `message` under `category`; printed to stderr when HYBRID_LOG names the category."""
    if enabled(category):
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("[hybrid:%(category)s] %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        logger.info(message, extra={"category": category})
    else:
        logger.debug("%s: %s", category, message)
