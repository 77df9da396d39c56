"""Find the user's source line: the innermost stack frame outside the hybrid package."""
from __future__ import annotations

import linecache
import os
import sys
from typing import NamedTuple, Optional

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the model zoo is model code written with the public API: its lines are the user's lines
_MODEL_ZOO_DIR = os.path.join(_PACKAGE_DIR, "model_zoo")


class SourceLine(NamedTuple):
    filename: str
    lineno: int

    @property
    def short(self) -> str:
        """`model.py:12`, as printed in the IR."""
        return f"{os.path.basename(self.filename)}:{self.lineno}"

    @property
    def code(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def describe(self) -> str:
        """`File "path/model.py", line 12: y = x @ w`, as printed in errors."""
        code = self.code
        return f'File "{self.filename}", line {self.lineno}' + (f": {code}" if code else "")


def user_line() -> Optional[SourceLine]:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        path = os.path.abspath(filename)
        if not path.startswith(_PACKAGE_DIR + os.sep) or path.startswith(_MODEL_ZOO_DIR + os.sep):
            return SourceLine(filename, frame.f_lineno)
        frame = frame.f_back
    return None
