"""hb.config: every HYBRID_* setting read in one place, settable in code, validated with clear errors."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

import numpy
import pytest

import hybrid as hb
from hybrid.config import MAX_THREADS, SETTINGS, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_code_settings_override_the_environment_inside_the_block(monkeypatch):
    monkeypatch.setenv("HYBRID_NUM_THREADS", "3")
    assert hb.config.get("num_threads") == 3
    with hb.config(num_threads=1, log="compile,fusion"):
        assert hb.config.get("num_threads") == 1
        assert hb.config.get("log") == {"compile", "fusion"}
        with hb.config(num_threads=2):
            assert hb.config.get("num_threads") == 2
        assert hb.config.get("num_threads") == 1
    assert hb.config.get("num_threads") == 3
    assert hb.config.get("log") == frozenset() or "HYBRID_LOG" in os.environ


def test_set_holds_until_reset(monkeypatch):
    monkeypatch.delenv("HYBRID_CACHE_MAX_MB", raising=False)
    try:
        hb.config.set(cache_max_mb=5)
        assert hb.config.get("cache_max_mb") == 5.0
    finally:
        hb.config.set(cache_max_mb=None)
    assert hb.config.get("cache_max_mb") == 1024.0


def test_unset_num_threads_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("HYBRID_NUM_THREADS", raising=False)
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert hb.config.get("num_threads") == expected


@pytest.mark.parametrize("text", ["abc", "0", "-2", "2.5", str(MAX_THREADS + 1), "100000"])
def test_bad_num_threads_names_the_variable_the_value_and_what_is_accepted(monkeypatch, text):
    monkeypatch.setenv("HYBRID_NUM_THREADS", text)
    with pytest.raises(ConfigError, match=rf"HYBRID_NUM_THREADS='{re.escape(text)}' is not valid; expected a whole "
                                          rf"number of threads from 1 to {MAX_THREADS}"):
        hb.config.get("num_threads")


def test_huge_num_threads_is_refused_before_any_compiled_call():
    """Issue 16: HYBRID_NUM_THREADS=100000 said "can't start new thread"; abc gave a bare int() error."""
    script = ("import numpy, hybrid as hb\n"
              "f = hb.hybridize(lambda a: a * 2, backend='llvm')\n"
              "f(numpy.ones(4, 'float32'))\n")
    for text in ("100000", "abc"):
        env = dict(os.environ, HYBRID_NUM_THREADS=text, PYTHONPATH=ROOT)
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert result.returncode != 0
        assert f"HYBRID_NUM_THREADS='{text}' is not valid" in result.stderr, result.stderr[-2000:]
        assert "can't start new thread" not in result.stderr


def test_code_values_are_checked_too():
    with pytest.raises(ConfigError, match=r"hb.config: num_threads='many' is not valid; expected a whole number"):
        with hb.config(num_threads="many"):
            pass
    with pytest.raises(ConfigError, match=r"cuda_runtime='gpu' is not valid; expected pycuda or emulator"):
        hb.config.set(cuda_runtime="gpu")
    with pytest.raises(ConfigError, match=r"no setting 'threads'; the settings are log, dump, backend"):
        hb.config.get("threads")


@pytest.mark.parametrize("name,text,accepted", [
    ("HYBRID_DEBUG", "maybe", "1 or 0"), ("HYBRID_CACHE_MAX_MB", "lots", "a number of megabytes"),
    ("HYBRID_CACHE_MAX_MB", "-1", "0 or more"), ("HYBRID_CUDA_RUNTIME", "opencl", "pycuda or emulator"),
    ("HYBRID_LOG", "compile;fusion", "comma-separated category names")])
def test_every_bad_variable_says_what_is_accepted(monkeypatch, name, text, accepted):
    setting = next(key for key, s in SETTINGS.items() if s.env == name)
    monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError, match=rf"{name}='{re.escape(text)}' is not valid; expected .*{accepted}"):
        hb.config.get(setting)


def test_cache_dir_rule(monkeypatch, tmp_path):
    monkeypatch.delenv("HYBRID_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert hb.config.get("cache_dir") == str(tmp_path / "hybrid")
    from hybrid.codegen.cuda import compiler
    assert compiler.cache_dir() == str(tmp_path / "hybrid" / "cuda")     # CUDA: the same rule, a subfolder


def test_num_threads_setting_reaches_compiled_code(monkeypatch):
    from hybrid import codegen, np
    graph = hb.trace(lambda a: np.tanh(a) * 2, numpy.zeros((512, 1024), "float32"))
    monkeypatch.setenv("HYBRID_NUM_THREADS", "3")
    with hb.config(num_threads=2):
        exe = codegen.build(graph, "llvm")
    assert exe.plan.parallel and exe.nthreads == 2
    assert codegen.build(graph, "llvm").nthreads == 3
    with pytest.raises(ConfigError, match="num_threads=100000 is not valid"):
        codegen.build(graph, "llvm", num_threads=100000)


def test_every_setting_is_documented_once_in_the_module_and_listed_in_the_readme():
    readme = open(os.path.join(ROOT, "README.md")).read()
    doc = importlib.import_module("hybrid.config").__doc__   # hb.config is the settings object
    for name, setting in SETTINGS.items():
        assert re.search(rf"^  {name}\s+{setting.env}\s", doc, re.M), f"{name} is not documented in hybrid/config.py"
        assert f"`{setting.env}`" in readme, f"{setting.env} is missing from the README's settings"
    in_code = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "hybrid")):
        for f in files:
            if f.endswith(".py") and f != "config.py":
                text = open(os.path.join(folder, f)).read()
                in_code |= set(re.findall(r"environ(?:\.get)?[\(\[]\s*\"(HYBRID_\w+)", text))
                in_code |= set(re.findall(r"getenv\(\"(HYBRID_\w+)", text)) - {"HYBRID_NUM_THREADS"}  # AOT's C code
    assert not in_code, f"read outside hybrid/config.py: {sorted(in_code)}"

