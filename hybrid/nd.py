"""MXNet's legacy `mx.nd` API is not part of hybrid: importing it says what to use instead."""
from .legacy import legacy_api_error

raise legacy_api_error("nd")
