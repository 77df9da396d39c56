"""Every setting of hybrid, read in one place.

Each setting comes from its environment variable (HYBRID_<NAME>), can be set in code for the
whole process (`hb.config.set(num_threads=4)`) or for a block (`with hb.config(log="compile"):`),
and is read with `hb.config.get("num_threads")`. Code settings win over the environment; the
environment is read on every `get`, so a changed variable takes effect at the next use. A bad
value is an error naming the variable, the value and what is accepted.

The settings (name: variable, meaning):
  log           HYBRID_LOG           comma-separated log categories printed to stderr: recompiles,
                                     compile, fusion, gemm, or all (default: none)
  dump          HYBRID_DUMP          folder where every compile writes each stage (IR after each
                                     pass, memory plan, generated LLVM IR / CUDA source); default none
  backend       HYBRID_BACKEND       backend of hybridize() when none is given (default llvm)
  debug         HYBRID_DEBUG         verify the IR after every pass (1/0, true/false; default off)
  num_threads   HYBRID_NUM_THREADS   threads of compiled code, 1 to 1024 (default: every core this
                                     process may use); also the default of AOT libraries at run time
  cache_dir     HYBRID_CACHE_DIR     folder of compiled code (default $XDG_CACHE_HOME/hybrid, else
                                     ~/.cache/hybrid); the CUDA backend uses its `cuda` subfolder
  cache_max_mb  HYBRID_CACHE_MAX_MB  size cap of the LLVM disk cache in MiB, least recently used
                                     entries evicted first (default 1024; 0: no cap)
  cuda_runtime  HYBRID_CUDA_RUNTIME  what runs CUDA kernels: pycuda (a GPU) or emulator (the host;
                                     tests without a GPU); default pycuda
  emulator_cflags HYBRID_EMULATOR_CFLAGS  extra C compiler flags of the CUDA emulator (e.g.
                                     -fsanitize=address); default none
  dist_timeout  HYBRID_DIST_TIMEOUT  seconds one collective of distributed training may wait before
                                     the job is aborted (default 120)
  dist_bucket_mb HYBRID_DIST_BUCKET_MB  size of a gradient bucket (fusion buffer) in MiB (default 4;
                                     0: one bucket per gradient)
  launch_dir    HYBRID_LAUNCH_DIR    set by hybrid-launch for its ranks: the folder where each rank
                                     records its process id (so a killed rank can be named)
  profile       HYBRID_PROFILE       profile the whole run (hybrid.profiler) and print the table at
                                     exit: 1, or a .json path to also write the Chrome trace there;
                                     read when hybrid is imported (default off)
  engine        HYBRID_ENGINE        threaded: large eager ops and hybridized calls are queued and
                                     their results are futures (core/engine.py); naive: every op runs
                                     when it is called (default threaded)
  engine_workers HYBRID_ENGINE_WORKERS threads running queued work; ops on independent arrays run
                                     concurrently on different workers (default 2)
  home          HYBRID_HOME          hybrid's data folder; pretrained model parameters are read from its
                                     `models` subfolder (default ~/.hybrid)
  eager_compile HYBRID_EAGER_COMPILE eager ops on large float32 arrays run compiled LLVM kernels
                                     (frontend/eager_kernels.py; 1/0, default on)
  conv_impl     HYBRID_CONV_IMPL     kernel of float32 convolutions on the LLVM backend: auto (chosen
                                     per shape class, codegen/llvm/conv_choice.py), direct (the direct
                                     NCHW[x]c kernel), im2col (im2col + GEMM), winograd2 / winograd4
                                     (Winograd F(2x2,3x3) / F(4x4,3x3) for the 3x3 stride-1 convolutions,
                                     the others as auto); default auto
  compile_workers HYBRID_COMPILE_WORKERS  processes compiling the parts of a large LLVM module beside the
                                     calling thread, and the GEMM module beside the front end (codegen/llvm/
                                     workers.py; default: the cores this process may use less one, at most 7;
                                     0: compile in this process only)
  concurrent_groups HYBRID_CONCURRENT_GROUPS  independent kernel groups of one compiled graph
                                     (passes/concurrent_groups.py) on separate thread teams: auto (each
                                     graph's first calls measure both schedules and keep the faster,
                                     codegen/schedule_choice.py), on, off (always in order); default auto
  eager_compile_min_elements HYBRID_EAGER_COMPILE_MIN_ELEMENTS  result elements from which an eager op
                                     runs compiled (default 65536; read when hybrid is imported)
  eager_compile_min_flops HYBRID_EAGER_COMPILE_MIN_FLOPS  or FLOPs of a convolution/pooling from which it
                                     does (default 4194304; read when hybrid is imported)
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from .errors import HybridError

# more threads than this is a typo (or a runaway script), not a machine: refused rather than
# failing later with "can't start new thread"
MAX_THREADS = 1024


class ConfigError(HybridError, ValueError):
    """A setting has a value hybrid does not accept."""


@dataclass(frozen=True)
class Setting:
    env: str
    # the variable's text or a value given in code -> the value; raises ValueError saying what is accepted
    parse: Callable[[Any], Any]
    default: Callable[[], Any]


def _threads(value) -> int:
    accepted = f"a whole number of threads from 1 to {MAX_THREADS}"
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(accepted) from None
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(accepted)
    return n


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("1 or 0 (also true/false, yes/no, on/off)")


def _categories(value) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = frozenset(str(c).strip() for c in items if str(c).strip())
    bad = [c for c in names if not re.fullmatch(r"[a-z_]+", c)]
    if bad:
        raise ValueError("comma-separated category names (recompiles, compile, fusion, gemm, all)")
    return names


def _megabytes(value) -> float:
    try:
        mb = float(str(value).strip())
    except ValueError:
        raise ValueError("a number of megabytes, 0 or more (0 disables the cap)") from None
    if mb < 0:
        raise ValueError("a number of megabytes, 0 or more (0 disables the cap)")
    return mb


def _choice(*names: str) -> Callable[[Any], str]:
    def parse(value) -> str:
        text = str(value).strip()
        if text not in names:
            raise ValueError(" or ".join(names))
        return text
    return parse


def _name(value) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", text):
        raise ValueError("a backend name such as llvm, interp or cuda")
    return text


def _folder(value) -> Optional[str]:
    text = os.fspath(value) if value is not None else ""
    return text or None


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hybrid")


def _seconds(value) -> float:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise ValueError("a positive number of seconds") from None
    if not seconds > 0:
        raise ValueError("a positive number of seconds")
    return seconds


def _mebibytes(value) -> float:
    try:
        mb = float(str(value).strip())
    except ValueError:
        raise ValueError("a number of MiB, 0 or more (0: one bucket per gradient)") from None
    if mb < 0:
        raise ValueError("a number of MiB, 0 or more (0: one bucket per gradient)")
    return mb


def _profile(value) -> Optional[str]:
    """None (off), "1" (table at exit) or a .json path (table and trace)."""
    text = str(value).strip()
    if text in ("", "0"):
        return None
    if text == "1" or text.endswith(".json"):
        return text
    raise ValueError("1 (print the profile table at exit), 0, or a path ending in .json (also write the trace)")


def _count(value) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError("a whole number, 0 or more") from None
    if n < 0:
        raise ValueError("a whole number, 0 or more")
    return n


def _flags(value) -> tuple[str, ...]:
    return tuple(value.split()) if isinstance(value, str) else tuple(str(v) for v in value)


SETTINGS: dict[str, Setting] = {
    "log": Setting("HYBRID_LOG", _categories, frozenset),
    "dump": Setting("HYBRID_DUMP", _folder, lambda: None),
    "backend": Setting("HYBRID_BACKEND", _name, lambda: "llvm"),
    "debug": Setting("HYBRID_DEBUG", _flag, lambda: False),
    "num_threads": Setting("HYBRID_NUM_THREADS", _threads, _cores),
    "cache_dir": Setting("HYBRID_CACHE_DIR", _folder, _default_cache_dir),
    "cache_max_mb": Setting("HYBRID_CACHE_MAX_MB", _megabytes, lambda: 1024.0),
    "cuda_runtime": Setting("HYBRID_CUDA_RUNTIME", _choice("pycuda", "emulator"), lambda: "pycuda"),
    "emulator_cflags": Setting("HYBRID_EMULATOR_CFLAGS", _flags, tuple),
    "dist_timeout": Setting("HYBRID_DIST_TIMEOUT", _seconds, lambda: 120.0),
    "dist_bucket_mb": Setting("HYBRID_DIST_BUCKET_MB", _mebibytes, lambda: 4.0),
    "launch_dir": Setting("HYBRID_LAUNCH_DIR", _folder, lambda: None),
    "profile": Setting("HYBRID_PROFILE", _profile, lambda: None),
    "engine": Setting("HYBRID_ENGINE", _choice("threaded", "naive"), lambda: "threaded"),
    "engine_workers": Setting("HYBRID_ENGINE_WORKERS", _threads, lambda: 2),
    "home": Setting("HYBRID_HOME", _folder, lambda: os.path.join(os.path.expanduser("~"), ".hybrid")),
    "eager_compile": Setting("HYBRID_EAGER_COMPILE", _flag, lambda: True),
    "concurrent_groups": Setting("HYBRID_CONCURRENT_GROUPS", _choice("auto", "on", "off"), lambda: "auto"),
    "conv_impl": Setting("HYBRID_CONV_IMPL", _choice("auto", "direct", "im2col", "winograd2", "winograd4"), lambda: "auto"),
    "eager_compile_min_elements": Setting("HYBRID_EAGER_COMPILE_MIN_ELEMENTS", _count, lambda: 1 << 16),
    "compile_workers": Setting("HYBRID_COMPILE_WORKERS", _count, lambda: min(_cores() - 1, 7)),
    "eager_compile_min_flops": Setting("HYBRID_EAGER_COMPILE_MIN_FLOPS", _count, lambda: 1 << 22),
}


class Config:
    """`hb.config`: get, set, or (called) override settings for a `with` block."""

    def __init__(self):
        self._lock = threading.Lock()
        self._overrides: dict[str, Any] = {}

    @staticmethod
    def _setting(name: str) -> Setting:
        if name not in SETTINGS:
            raise ConfigError(f"hybrid has no setting {name!r}; the settings are {', '.join(SETTINGS)}")
        return SETTINGS[name]

    def check(self, name: str, value) -> Any:
        """`value` validated (and normalized) as setting `name` accepts it; used for options that
        override a setting, such as a backend's num_threads."""
        setting = self._setting(name)
        try:
            return setting.parse(value)
        except ValueError as e:
            raise ConfigError(f"hb.config: {name}={value!r} is not valid; expected {e}") from None

    def get(self, name: str) -> Any:
        """The setting's value: set in code, else from its environment variable, else the default."""
        setting = self._setting(name)
        with self._lock:
            if name in self._overrides:
                return self._overrides[name]
        text = os.environ.get(setting.env, "")
        if not text.strip():
            return setting.default()
        try:
            value = setting.parse(text)
        except ValueError as e:
            raise ConfigError(f"{setting.env}={text!r} is not valid; expected {e}") from None
        return setting.default() if value is None else value

    def set(self, **values) -> None:
        """Set settings for the whole process (None returns a setting to its variable/default)."""
        checked = {name: None if value is None else self.check(name, value) for name, value in values.items()}
        with self._lock:
            for name, value in checked.items():
                if value is None:
                    self._overrides.pop(name, None)
                else:
                    self._overrides[name] = value

    @contextlib.contextmanager
    def __call__(self, **values) -> Iterator[None]:
        """`with hb.config(num_threads=1):` the settings hold inside the block, then revert."""
        for name in values:
            self._setting(name)
        with self._lock:
            saved = {name: self._overrides.get(name) for name in values}
        self.set(**values)
        try:
            yield
        finally:
            self.set(**saved)

    def describe(self) -> str:
        """Every setting with its variable and current value."""
        return "\n".join(f"{name:16} {s.env:24} {self.get(name)!r}" for name, s in SETTINGS.items())


config = Config()
