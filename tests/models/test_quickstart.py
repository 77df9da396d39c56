"""examples/quickstart.py runs end to end and reports agreement (exit status 0)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quickstart_runs_and_agrees():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "quickstart.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("graph @MLP(%x: f32[4,64], param %fc1.weight: f32[128,64]")
    assert "OK: eager, hybridized and exported+loaded agree" in result.stdout
