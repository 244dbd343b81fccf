"""Every example runs end to end with a tiny budget."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASES = {
    "data_model.py": ["--episodes", "3", "--max-steps", "20"],
    "demo.py": ["--workers", "1", "--rollouts", "5"],
}


def test_every_example_has_a_smoke_test():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs(name, tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *CASES[name]],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "True" in out.stdout  # each example ends with a self-check that prints True
    assert "False" not in out.stdout
