"""The `hybrid` command end to end: --help of every subcommand, and inspect / convert (both ways) /
dump / bench / compile on a small ONNX model."""
import os
import subprocess
import sys

import numpy
import onnx
import pytest

import hybrid as hb
from hybrid.cli import main

from onnx_models import mlp_model, reference

COMMANDS = ["inspect", "dump", "convert", "bench", "compile"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    return subprocess.run([sys.executable, "-m", "hybrid.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture
def model_file(tmp_path):
    model, _ = mlp_model()
    path = str(tmp_path / "mlp.onnx")
    onnx.save(model, path)
    return path, model


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help_of_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"] if command else ["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert all(c in out for c in COMMANDS) if command is None else f"usage: hybrid {command}" in out


def test_inspect_onnx_and_hybrid_export(model_file, tmp_path, capsys):
    path, _ = model_file
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "x FLOAT['N', 6]" in out and "parameters: 83" in out and "Gemm" in out and "Softmax" in out
    assert main(["convert", path, str(tmp_path / "mlp"), "--batch", "4"]) == 0
    assert main(["inspect", str(tmp_path / "mlp")]) == 0
    out = capsys.readouterr().out
    assert "f32[4, 6]" in out and "parameters: 83" in out and "matmul" in out


def test_convert_both_ways_preserves_the_model(model_file, tmp_path):
    path, model = model_file
    assert main(["convert", path, str(tmp_path / "mlp"), "--batch", "3"]) == 0
    assert main(["convert", str(tmp_path / "mlp"), str(tmp_path / "again.onnx"), "--to", "onnx"]) == 0
    x = numpy.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    again = onnx.load(str(tmp_path / "again.onnx"))
    onnx.checker.check_model(again)
    numpy.testing.assert_allclose(reference(again, x)[0], reference(model, x)[0], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(hb.load(str(tmp_path / "mlp"))(x).asnumpy(), reference(model, x)[0],
                                  rtol=1e-5, atol=1e-6)


def test_dump_writes_every_stage_llvm_ir_and_assembly(model_file, tmp_path, capsys):
    path, _ = model_file
    folder = str(tmp_path / "dump")
    assert main(["dump", path, "--stage", "fuse", "--dir", folder]) == 0
    assert "fused(" in capsys.readouterr().out
    files = os.listdir(folder)
    assert any(f.endswith("-traced.ir") for f in files) and any(f.endswith("-fuse.ir") for f in files)
    assert any(f.endswith("-llvm.ll") for f in files) and any(f.endswith("-asm.s") for f in files)


def test_bench_against_onnxruntime(model_file, capsys):
    path, _ = model_file
    assert main(["bench", path, "--batch", "8", "--runs", "3", "--warmup", "1", "--against", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert "hybrid-llvm" in out and "onnxruntime" in out and "max |hybrid - onnxruntime|" in out


def test_compile_writes_a_library_that_runs(model_file, tmp_path):
    path, model = model_file
    library = str(tmp_path / "mlp.so")
    assert main(["compile", path, "--library", library, "--batch", "2"]) == 0
    assert os.path.exists(library) and os.path.exists(str(tmp_path / "mlp.h"))
    x = numpy.random.default_rng(1).normal(size=(2, 6)).astype("float32")
    (out,) = hb.load_library(library)([x])
    numpy.testing.assert_allclose(out, reference(model, x)[0], rtol=1e-5, atol=1e-6)


def test_errors_are_one_line_and_exit_nonzero(tmp_path):
    """Run as a process, as a user would (`python -m hybrid.cli`, what the `hybrid` script calls)."""
    result = run_cli("inspect", str(tmp_path / "missing.onnx"))
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
