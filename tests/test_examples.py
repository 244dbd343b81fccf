"""Every example runs end to end with a tiny budget.

Each example declares its smoke-test arguments in a header line ``# smoke-test: ARGS`` (empty
for none); the example must exit 0, its last line must report its self-check as True, and it
must leave nothing behind in the working directory or (but for LEAVE_TEMP_FILES) the temp dir.
"""

import ast
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gymsamp.sampling import StatesNotRecordedWarning
from gymsamp.stats import DegenerateBootstrapWarning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MARK = "# smoke-test:"


def smoke_args(path: Path) -> list[str] | None:
    for line in path.read_text().splitlines():
        if line.startswith(MARK):
            return shlex.split(line[len(MARK) :])
    return None


#: Examples that leave files in the temp dir on purpose, and why.
LEAVE_TEMP_FILES = {
    "sbi_pendulum.py": "its plot, to be looked at after the run",
    "ray_sampling.py": "Ray's session folder",
}


def run_example(
    path: Path, args: list[str], tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run an example as a new user would: its output, and what it left in the temp dir."""
    workdir = tmp_path / "cwd"
    workdir.mkdir(parents=True)
    # Their temp files (output folders, SB3's logger folder on every learn()) go to a scratch
    # dir removed afterwards; a short path, since Ray puts socket paths of <= 107 bytes in it.
    scratch = tempfile.mkdtemp(prefix="gsx")
    try:
        out = subprocess.run(
            [sys.executable, str(path), *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=workdir,
            env={**os.environ, "TMPDIR": scratch},
        )
        # Not theirs: torch's per-user cache folder, made once (on the first torch.optim
        # optimizer) and reused by every later run, like ~/.cache.
        left = sorted(n for n in os.listdir(scratch) if not n.startswith("torchinductor_"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert not any(workdir.iterdir()), "examples must not litter the working directory"
    return out, left


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    args = smoke_args(path)
    assert args is not None, f"{path.name} must declare its smoke test: '{MARK} ARGS'"
    out, left = run_example(path, args, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].endswith("True"), out.stdout
    # gymsamp's own warnings in an example's output mean that the example misuses gymsamp
    # (other packages' warnings, e.g. sbi's on the smoke test's tiny budget, may appear).
    for category in (StatesNotRecordedWarning, DegenerateBootstrapWarning):
        assert category.__name__ not in out.stderr, out.stderr
    if path.name not in LEAVE_TEMP_FILES:
        assert left == [], f"{path.name} must remove its temp files"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_help_describes_it_and_runs_nothing(path, tmp_path):
    out, left = run_example(path, ["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {path.name} ")
    first_line = ast.get_docstring(ast.parse(path.read_text()))
    assert first_line is not None
    assert " ".join(first_line.splitlines()[0].split()) in " ".join(out.stdout.split())
    assert left == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rollouts", "1"], "argument --rollouts: must be at least 2 (a confidence interval"),
        (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (["--max-steps", "x"], "argument --max-steps: must be an int, got 'x'"),
    ],
)
def test_quickstart_refuses_bad_arguments_as_usage_errors(args, message, tmp_path):
    out, _ = run_example(EXAMPLES / "quickstart.py", args, tmp_path)
    assert out.returncode == 2  # argparse's usage error, before anything runs
    assert message in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        # No time limit: cut at the CLI's default cap, or at --max-steps (returns 1 + ... + T).
        (
            ["--env", "gymsamp/Counting-v0"],
            [
                "gymsamp/Counting-v0 has no time limit: rollouts cut at 1000 steps (--max-steps N)",
                "rollout 0: 1000 steps, ",
                "mean return 500500.0, 95% CI [500500.0, 500500.0]",
            ],
        ),
        (
            ["--env", "gymsamp/Counting-v0", "--max-steps", "7"],
            ["rollout 0: 7 steps, ", "  last step: TIMEOUT, terminated=False, truncated=True"],
        ),
        # A Tuple observation space: each array's shape (three scalars per step).
        (["--env", "Blackjack-v1"], ["  observations ((3,), (3,), (3,)) (T+1: "]),
    ],
)
def test_quickstart_runs_envs_other_than_cartpole(args, lines, tmp_path):
    out, _ = run_example(
        EXAMPLES / "quickstart.py", [*args, "--workers", "2", "--rollouts", "3"], tmp_path
    )
    assert out.returncode == 0, out.stderr
    for line in lines:
        assert any(printed.startswith(line) for printed in out.stdout.splitlines()), out.stdout
    assert out.stdout.splitlines()[-1] == "self-check passed: True"
    assert "Warning" not in out.stderr  # identical returns are printed as [mean, mean]


def test_sb3_example_refuses_fewer_than_two_episodes(tmp_path):
    pytest.importorskip("stable_baselines3")
    out, _ = run_example(EXAMPLES / "sb3_evaluate.py", ["--episodes", "1"], tmp_path)
    assert out.returncode == 2
    assert "error: --episodes must be at least 2 (a confidence interval), got 1" in out.stderr


def test_data_model_keeps_the_file_only_with_out(tmp_path):
    out, left = run_example(EXAMPLES / "data_model.py", ["--episodes", "2"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "bytes, then removed) and loaded back identical: True" in out.stdout
    assert left == []
    target = tmp_path / "kept" / "rollouts.npz"
    out, _ = run_example(
        EXAMPLES / "data_model.py", ["--episodes", "2", "--out", str(target)], tmp_path / "again"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith(f"saved to {target} (")
    assert target.is_file()


def test_sb3_example_reports_identical_returns_without_warnings(capsys):
    """A model that reaches the time limit every episode (the default run) gets its interval
    [mean, mean] printed, without the degenerate-bootstrap warning on stderr."""
    pytest.importorskip("stable_baselines3")
    import importlib.util
    import warnings

    from gymsamp.data import StepSequence

    spec = importlib.util.spec_from_file_location("sb3_evaluate", EXAMPLES / "sb3_evaluate.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rollouts = [
        StepSequence(rewards=[1.0] * 5, observations=[[0.0]] * 6, actions=[0] * 5) for _ in range(4)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert example.report("deterministic", rollouts) == (5.0, 5.0, 5.0)
    assert capsys.readouterr().out == (
        "deterministic: 4 episodes, mean return 5.0, 95% CI [5.0, 5.0], 95% lower bound 5.0\n"
    )
