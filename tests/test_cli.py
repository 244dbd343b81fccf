"""The ``gymsamp`` command: sample / info / params / plot, policies, errors and Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from gymsamp.cli import balance, main
from gymsamp.data import StepSequence
from gymsamp.data.io import load_rollouts, save_rollouts
from gymsamp.sampling import select_cvar
from gymsamp.stats import bootstrap_ci
from gymsamp.summary import format_number as fmt

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Fast, exactly predictable: every rollout of Counting(terminate_at=4) has return 1+2+3+4 = 10.
COUNTING = ["gymsamp/Counting-v0", "--env-kwarg", "terminate_at=4", "--vectorization", "sync"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_value(out, label):
    """The value column of a summary-table row."""
    for line in out.splitlines():
        if line.startswith(label + "  "):
            return line[len(label) :].strip()
    raise AssertionError(f"no row {label!r} in:\n{out}")


def assert_png(path, min_bytes=10_000):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes


# ----------------------------------------------------------------------------------------------
# gymsamp sample
# ----------------------------------------------------------------------------------------------


def test_sample_known_answer_summary(capsys):
    code, out, err = run(capsys, "sample", *COUNTING, "--min-rollouts", 5, "--seed", 0)
    assert code == 0
    assert err == ""  # stderr is not a terminal here: no progress bar
    assert out.splitlines()[0].startswith("gymsamp sample gymsamp/Counting-v0: policy random")
    assert table_value(out, "rollouts") == "5"
    assert table_value(out, "steps") == "20"
    assert table_value(out, "steps/s").endswith("s)")
    assert table_value(out, "return mean").startswith("10   95% CI [10, 10]")
    assert table_value(out, "return median") == "10"
    assert table_value(out, "return min / max") == "10 / 10"
    assert table_value(out, "CVaR 10%").startswith("n/a")  # round(0.1 * 5) = 0 rollouts
    assert table_value(out, "endings") == "TERMINAL 5, TIMEOUT 0"
    assert table_value(out, "domain params") == "all 1 at nominal"
    assert out.splitlines()[-1] == (
        "gymsamp/Counting-v0: mean return 10 (95% CI [10, 10]) over 5 rollouts; "
        "0 of 5 ran to the time limit (TIMEOUT), 5 ended early (TERMINAL)"
    )


def test_sample_without_min_rollouts_or_steps_samples_the_documented_ten(capsys):
    code, out, _ = run(capsys, "sample", *COUNTING, "--seed", 0)
    assert code == 0
    assert table_value(out, "rollouts") == "10"
    with pytest.raises(SystemExit) as exited:
        main(["sample", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "(default 10, or one per grid point with --grid" in " ".join(out.split())


def test_sample_max_steps_min_steps_and_cvar(capsys):
    code, out, _ = run(
        capsys, "sample", *COUNTING, "--max-steps", 3, "--min-steps", 10, "--seed", 1,
        "--cvar", 0.5,
    )  # fmt: skip
    assert code == 0
    # Rollouts are cut after 3 steps (return 6, TIMEOUT); 4 of them reach 10 steps.
    assert table_value(out, "rollouts") == "4"
    assert table_value(out, "steps") == "12"
    assert table_value(out, "endings") == "TERMINAL 0, TIMEOUT 4"
    assert table_value(out, "CVaR 50%").startswith("6   mean of the worst 2 returns")


def test_sample_cartpole_randomized_saves_and_plots(capsys, tmp_path):
    out_file, png = tmp_path / "runs" / "cp.npz", tmp_path / "runs" / "cp.png"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--min-rollouts", 12,
        "--seed", 3, "--num-workers", 2, "--vectorization", "sync",
        "--randomize", "length=uniform:0.5,0.45", "--domain-param", "masspole=0.2",
        "--out", out_file, "--plot", png,
    )  # fmt: skip
    assert code == 0
    rollouts = load_rollouts(out_file)
    assert len(rollouts) == 12
    lengths = [ro.rollout_info["domain_param"]["length"] for ro in rollouts]
    assert len(set(lengths)) == 12
    assert all(0.05 <= v <= 0.95 for v in lengths)
    assert {ro.rollout_info["domain_param"]["masspole"] for ro in rollouts} == {0.2}
    assert_png(png)
    assert f"wrote {out_file} (12 rollouts)" in out
    assert f"wrote {png}" in out
    # The table names how each parameter was set, with the range actually used.
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "uniform(mean=0.5, halfspan=0.45)" in rows["length"]
    assert f"{fmt(min(lengths))} .. {fmt(max(lengths))} (12 values)" in rows["length"]
    assert "fixed" in rows["masspole"]
    assert "0.2" in rows["masspole"]
    assert "\ndomain params (4 others at nominal)\n" in out

    # The printed statistics are those of the saved rollouts.
    returns = np.array([ro.undiscounted_return() for ro in rollouts])
    stat, lo, hi = bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=0)
    ci = f"95% CI [{fmt(2 * stat - hi)}, {fmt(2 * stat - lo)}]"  # percentile interval
    assert table_value(out, "return mean").startswith(f"{fmt(returns.mean())}   {ci}")
    assert table_value(out, "return median") == fmt(np.median(returns))
    assert table_value(out, "return std") == fmt(returns.std(ddof=1))
    cvar = np.mean([ro.undiscounted_return() for ro in select_cvar(rollouts, 0.1)])
    assert table_value(out, "CVaR 10%").startswith(fmt(cvar))
    ends = [int(ro.step_types[-1]) for ro in rollouts]
    assert table_value(out, "endings") == f"TERMINAL {ends.count(2)}, TIMEOUT {ends.count(3)}"

    # Same seed, different worker count: the same rollouts (DESIGN §4).
    again = tmp_path / "again.npz"
    run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--min-rollouts", 12,
        "--seed", 3, "--num-workers", 1, "--randomize", "length=uniform:0.5,0.45",
        "--domain-param", "masspole=0.2", "--out", again,
    )  # fmt: skip
    np.testing.assert_array_equal(
        [ro.undiscounted_return() for ro in load_rollouts(again)], returns
    )


def test_sample_init_state_normal_randomization_and_states(capsys, tmp_path):
    out_file = tmp_path / "p.npz"
    code, out, _ = run(
        capsys, "sample", "Pendulum-v1", "--policy", "idle", "--init-state=-3.0,0.5",
        "--randomize", "m=normal:1.0,0.1", "--max-steps", 5, "--min-rollouts", 3, "--seed", 0,
        "--record-states", "--out", out_file,
    )  # fmt: skip
    assert code == 0
    assert "initial state [-3.0, 0.5]" in out.splitlines()[0]
    rollouts = load_rollouts(out_file)
    for ro in rollouts:
        np.testing.assert_allclose(ro.rollout_info["init_state"], [-3.0, 0.5])
        np.testing.assert_allclose(ro.states[0], [-3.0, 0.5])
        np.testing.assert_allclose(ro.observations[0], [np.cos(-3.0), np.sin(-3.0), 0.5], 1e-6)
    masses = {ro.rollout_info["domain_param"]["m"] for ro in rollouts}
    assert len(masses) == 3
    assert "normal(mean=1, std=0.1)" in out


def test_normal_randomization_with_clip_bounds_stays_inside_them(capsys, tmp_path):
    out_file = tmp_path / "n.npz"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--randomize", "length=normal:0.5,0.5,0.05,0.6",
        "--max-steps", 3, "--min-rollouts", 12, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0
    assert "normal(mean=0.5, std=0.5, clipped to [0.05, 0.6])" in out
    lengths = [ro.rollout_info["domain_param"]["length"] for ro in load_rollouts(out_file)]
    assert min(lengths) >= 0.05
    assert max(lengths) <= 0.6
    assert 0.6 in lengths  # P(draw > 0.6) = 0.42: some draws were clipped, none passed


def test_normal_randomization_clips_one_side_with_an_infinite_bound(capsys, tmp_path):
    out_file = tmp_path / "n.npz"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--randomize", "length=normal:0.5,0.5,0.05,inf",
        "--max-steps", 3, "--min-rollouts", 12, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0
    assert "normal(mean=0.5, std=0.5, clipped to [0.05, inf])" in out
    lengths = [ro.rollout_info["domain_param"]["length"] for ro in load_rollouts(out_file)]
    assert min(lengths) == 0.05  # P(draw < 0.05) = 0.18: some draws were clipped from below
    assert max(lengths) > 1.0  # P(draw > 1) = 0.16: nothing clips from above


def test_clipped_randomization_is_not_taken_for_a_grid_by_info(capsys, tmp_path):
    # The clip bounds repeat, and `info` listed the parameter as "grid" (plots drew return over
    # its 5 values) where `sample` had said normal(...).
    out_file = tmp_path / "clip.npz"
    code, out, _ = run(
        capsys, "sample", "Pendulum-v1", "--randomize", "m=normal:1,0.5,0.9,1.1",
        "--min-rollouts", 20, "--max-steps", 5, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0
    rollouts = load_rollouts(out_file)
    masses = [ro.rollout_info["domain_param"]["m"] for ro in rollouts]
    assert len(set(masses)) < len(masses)  # the bounds repeat
    assert all(ro.rollout_info["grid"] == [] for ro in rollouts)
    code, out, _ = run(capsys, "info", out_file)
    assert code == 0
    assert re.search(r"\n  m +1 +varies +0\.9 \.\. 1\.1 ", out), out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("normal:0.5,inf", r"--randomize length parameters must be a finite number, got 'inf'"),
        ("uniform:-inf,0.1", r"--randomize length parameters must be a finite number, got '-inf'"),
        ("normal:0.5,0.1,nan,1", r"must be a number other than nan, got 'nan'"),
    ],
)
def test_randomize_only_clip_bounds_may_be_infinite(capsys, spec, message):
    code, _, err = run(capsys, "sample", "CartPole-v1", "--randomize", f"length={spec}")
    assert code == 2
    assert re.search(message, err), err


def test_sample_grid_runs_every_point_and_plots_a_heatmap(capsys, tmp_path):
    out_file, png = tmp_path / "g.npz", tmp_path / "g.png"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--seed", 0,
        "--grid", "length=0.1,0.5", "--grid", "masspole=0.1:0.3:3", "--out", out_file,
        "--plot", png,
    )  # fmt: skip
    assert code == 0
    rollouts = load_rollouts(out_file)
    points = {
        (ro.rollout_info["domain_param"]["length"], ro.rollout_info["domain_param"]["masspole"])
        for ro in rollouts
    }
    assert len(rollouts) == 6  # by default one rollout per grid point
    assert points == {(a, b) for a in (0.1, 0.5) for b in (0.1, 0.2, 0.3)}
    assert "grid" in out
    assert_png(png)


def test_a_one_parameter_grid_is_found_again_in_the_saved_file(capsys, tmp_path):
    # One rollout per value looks like randomization by the values alone: the file records it.
    out_file, png = tmp_path / "g1.npz", tmp_path / "again.png"
    code, _, err = run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--seed", 0,
        "--grid", "length=0.1,0.3,0.5", "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    rollouts = load_rollouts(out_file)
    assert [ro.rollout_info["grid"] for ro in rollouts] == [["length"]] * 3
    code, out, err = run(capsys, "info", out_file)
    assert code == 0, err
    assert "grid     0.1 .. 0.5 (3 values)" in out
    code, _, err = run(capsys, "plot", out_file, "-o", png, "--kind", "grid")
    assert code == 0, err
    assert_png(png)


def test_a_grid_keeps_the_fixed_domain_params_on_every_point(capsys, tmp_path):
    out_file = tmp_path / "g.npz"
    code, _, err = run(
        capsys, "sample", "gymsamp/PointMass-v0", "--grid", "mass=1,2", "--domain-param",
        "friction=0.3", "--seed", 0, "--max-steps", 5, "--num-workers", 1, "--out", out_file,
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    params = [ro.rollout_info["domain_param"] for ro in load_rollouts(out_file)]
    assert sorted((p["mass"], p["friction"]) for p in params) == [(1.0, 0.3), (2.0, 0.3)]


@pytest.mark.parametrize(
    ("grid", "shown"),
    [
        ("mass=1,1,1", "'1,1,1'"),
        # The START:STOP:NUM form returned before the check: a 3-point "grid" of one value.
        ("mass=1:1:3", "'1:1:3' (the values 1, 1, 1)"),
        ("mass=0.1:0.1000000000001:3", "'0.1:0.1000000000001:3' (the values 0.1, 0.1, 0.1)"),
    ],
)
def test_grid_values_must_be_distinct_in_both_forms(capsys, grid, shown):
    code, out, err = run(capsys, "sample", "gymsamp/PointMass-v0", "--grid", grid, "--seed", 0)
    assert (code, out) == (2, "")
    assert err == f"gymsamp: error: --grid mass: values must be distinct, got {shown}\n"


def test_a_grid_range_keeps_tiny_values_apart_and_rounds_linspace_noise(capsys, tmp_path):
    # Rounded to 12 decimals, 1e-13:3e-13:3 became 0, 0, 0 and was refused as the user's
    # repeated values; 1.25e-11 was shifted to 1.2e-11.
    from gymsamp._cli_inputs import parse_grid

    assert parse_grid("m=1e-13:3e-13:3") == ("m", [1e-13, 2e-13, 3e-13])
    assert parse_grid("m=1.25e-11:2.5e-11:2") == ("m", [1.25e-11, 2.5e-11])
    assert parse_grid("m=0.1:0.3:3") == ("m", [0.1, 0.2, 0.3])  # not 0.30000000000000004
    out_file = tmp_path / "tiny.npz"
    code, _, err = run(
        capsys, "sample", "gymsamp/PointMass-v0", "--grid", "friction=1e-13:3e-13:3",
        "--seed", 0, "--max-steps", 2, "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    used = {ro.rollout_info["domain_param"]["friction"] for ro in load_rollouts(out_file)}
    assert used == {1e-13, 2e-13, 3e-13}


def test_a_grid_with_min_steps_gives_every_point_the_same_number_of_rollouts(capsys, tmp_path):
    out_file = tmp_path / "g.npz"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--seed", 0, "--min-steps", 100,
        "--grid", "length=0.1,0.5", "--out", out_file,
    )  # fmt: skip
    assert code == 0
    rollouts = load_rollouts(out_file)
    lengths = [ro.rollout_info["domain_param"]["length"] for ro in rollouts]
    assert lengths.count(0.1) == lengths.count(0.5)  # 9 rollouts met 100 steps: one more
    assert sum(ro.length for ro in rollouts) >= 100
    assert table_value(out, "rollouts") == str(len(rollouts))


def test_a_plot_path_without_a_suffix_is_written_and_named_as_png(capsys, tmp_path):
    code, out, _ = run(
        capsys, "sample", *COUNTING, "--min-rollouts", 2, "--seed", 0,
        "--plot", tmp_path / "returns",
    )  # fmt: skip
    assert code == 0
    assert f"wrote {tmp_path / 'returns.png'}" in out
    assert_png(tmp_path / "returns.png")


def test_a_missing_matplotlib_is_reported_before_sampling(capsys, monkeypatch, tmp_path):
    # As if the plot extra were not installed: importing matplotlib fails.
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    for plot in (tmp_path / "r.png", tmp_path / "r"):  # also without a suffix
        code, out, err = run(capsys, "sample", *COUNTING, "--min-rollouts", 2, "--plot", plot)
        assert code == 1
        assert out == ""  # nothing was sampled
        assert err.startswith(
            "gymsamp: error: --plot needs matplotlib (pip install 'gymsamp[plot]'): "
        )
        assert len(err.splitlines()) == 1
    code, out, err = run(capsys, "plot", tmp_path / "any.npz", "-o", tmp_path / "p.png")
    assert code == 1
    assert err.startswith("gymsamp: error: --output needs matplotlib (pip install")


def test_the_header_names_both_bounds_and_counts_read_right(capsys, tmp_path):
    code, out, _ = run(
        capsys, "sample", *COUNTING, "--min-rollouts", 3, "--min-steps", 5, "--seed", 0,
    )  # fmt: skip
    assert code == 0
    assert "policy random, at least 3 rollouts and 5 steps, seed 0," in out.splitlines()[0]
    assert table_value(out, "rollouts") == "3"  # both bounds met: 3 rollouts of 4 steps
    path = tmp_path / "one.npz"
    code, out, _ = run(capsys, "sample", *COUNTING, "--min-rollouts", 1, "--out", path)
    assert "at least 1 rollout, seed" in out.splitlines()[0]
    assert f"wrote {path} (1 rollout)" in out
    code, out, _ = run(capsys, "info", path)
    assert out.splitlines()[0] == f"{path}: 1 rollout of gymsamp/Counting-v0"


def test_info_and_plot_make_the_env_with_the_kwargs_it_was_sampled_with(capsys, tmp_path):
    """Pendulum's ``g`` kwarg is its nominal gravity: rollouts sampled with ``g=5.0`` ran at
    nominal, and ``info`` must say so too (it made the env without the kwargs: "g fixed 5")."""
    path = tmp_path / "p.npz"
    code, out, _ = run(
        capsys, "sample", "Pendulum-v1", "--env-kwarg", "g=5.0", "--min-rollouts", 2,
        "--max-steps", 3, "--vectorization", "sync", "--seed", 0, "--out", path,
    )  # fmt: skip
    assert code == 0
    assert table_value(out, "domain params") == "all 6 at nominal"
    saved = load_rollouts(path)
    assert [ro.rollout_info["domain_param"]["g"] for ro in saved] == [5.0, 5.0]
    assert saved[0].rollout_info["cli_env"] == {"env": "Pendulum-v1", "env_kwarg": ["g=5.0"]}
    code, out, _ = run(capsys, "info", path)
    assert code == 0
    assert table_value(out, "domain params") == "all 6 at nominal"
    # Rollouts whose records disagree (or lack one) fall back to the env id: g=5 is "fixed".
    del saved[1].rollout_info["cli_env"]
    from gymsamp.data.io import save_rollouts

    save_rollouts(tmp_path / "mixed.npz", saved)
    code, out, _ = run(capsys, "info", tmp_path / "mixed.npz")
    assert code == 0
    assert re.search(r"^  g +10 +fixed +5$", out, re.MULTILINE), out


def test_progress_bar_only_on_a_terminal_and_not_when_quiet(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, "sample", *COUNTING, "--min-rollouts", 3, "--seed", 0)
    assert code == 0
    assert "Sampling" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = run(capsys, "sample", *COUNTING, "--min-rollouts", 3, "--seed", 0, "--quiet")
    assert code == 0
    assert err == ""
    assert "rollouts          3" in out  # --quiet keeps the summary


def test_sample_without_seed_prints_the_seed_it_drew(capsys):
    code, out, _ = run(capsys, "sample", *COUNTING, "--min-rollouts", 2)
    assert code == 0
    seed = int(out.splitlines()[0].split("seed ")[1].split(",")[0])
    assert 0 <= seed < 2**31


# ----------------------------------------------------------------------------------------------
# Policies
# ----------------------------------------------------------------------------------------------


def test_balance_balances_nominal_cartpole(capsys):
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--min-rollouts", 3,
        "--seed", 0, "--vectorization", "sync",
    )  # fmt: skip
    assert code == 0
    assert table_value(out, "return min / max") == "500 / 500"
    np.testing.assert_array_equal(balance(np.array([[0, 0, 0.1, 0], [0, 0, -0.1, 0]])), [1, 0])


POLICY_MODULE = textwrap.dedent(
    """
    import gymnasium as gym
    import numpy as np
    import torch

    from gymsamp.policies import IdlePolicy

    idle_policy = IdlePolicy(gym.spaces.Discrete(2))

    def push_right(observations):
        return np.ones(len(observations), dtype=np.int64)

    def broken(spec):
        raise RuntimeError("no weights here")

    def make_policy(spec):
        n = spec.action_space.n
        return lambda obs: np.full(len(obs), n - 1, dtype=np.int64)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, obs):
            return (self.linear(obs)[:, 0] > 0).long()
    """
)


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "my_policies.py"
    path.write_text(POLICY_MODULE)
    return path


@pytest.mark.parametrize("attr", ["push_right", "make_policy"])
def test_policy_from_a_module_attribute_or_factory(capsys, tmp_path, policy_file, attr):
    out_file = tmp_path / "r.npz"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", f"{policy_file}:{attr}",
        "--min-rollouts", 2, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0, out
    assert all((ro.actions == 1).all() for ro in load_rollouts(out_file))


def test_gymsamps_own_policy_classes_get_the_action_space(capsys, tmp_path, policy_file):
    # They take an action space, not the spec: "building the policy failed: RandomPolicy:
    # action_space must be one of ..., got EnvSpec(...)".
    out_file = tmp_path / "r.npz"
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", "gymsamp.policies:IdlePolicy",
        "--min-rollouts", 2, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0, out
    assert all((ro.actions == 0).all() for ro in load_rollouts(out_file))
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", "gymsamp.policies:RandomPolicy",
        "--min-rollouts", 2, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0, out
    assert {int(a) for ro in load_rollouts(out_file) for a in ro.actions} == {0, 1}
    # An instance of one in a module is used as it is.
    code, out, _ = run(
        capsys, "sample", "CartPole-v1", "--policy", f"{policy_file}:idle_policy",
        "--min-rollouts", 2, "--seed", 0, "--out", out_file,
    )  # fmt: skip
    assert code == 0, out
    assert all((ro.actions == 0).all() for ro in load_rollouts(out_file))


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["--policy", "{dir}/nosuch.py:f"], 2, "--policy '{dir}/nosuch.py:f': no such file "
         "'{dir}/nosuch.py'"),
        (["--policy", "{file}:broken"], 1, "--policy '{file}:broken': building the policy "
         "failed: no weights here"),
        (["--policy", "{file}:Net", "--weights", "{dir}/nosuch.pt"], 1,
         "--weights: no such file '{dir}/nosuch.pt'"),
        (["--policy", "sb3:PPO"], 2, "--policy must look like sb3:ALGO:PATH (e.g. "
         "sb3:PPO:ppo.zip), got 'sb3:PPO'"),
        (["--policy", "{file}", "--weights", "{dir}/w.pt"], 2,
         "--weights goes with --policy module:attr, not a torch model file"),
        # A bad combination of arguments, as the one above: it exited 1.
        (["--policy", "{file}:push_right", "--weights", "{dir}/w.pt"], 2,
         "--weights needs a torch.nn.Module policy, but '{file}:push_right' gave function"),
    ],
    ids=[
        "no such file", "factory fails", "no weights file", "sb3 form", "weights of a file",
        "weights of a function",
    ],
)  # fmt: skip
def test_bad_policy_options_are_one_line_errors(
    capsys, tmp_path, policy_file, argv, exit_code, message
):
    names = {"dir": tmp_path, "file": policy_file}
    argv = [a.format(**names) for a in argv]
    code, out, err = run(capsys, "sample", "CartPole-v1", *argv)
    assert (code, out) == (exit_code, "")
    assert err == f"gymsamp: error: {message.format(**names)}\n"


def test_a_module_name_that_is_a_file_here_points_to_the_file_form(
    capsys, tmp_path, policy_file, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the gymsamp script does not import from the current folder
    code, _, err = run(capsys, "sample", "CartPole-v1", "--policy", "my_policies:push_right")
    assert code == 2  # a bad argument: no module of that name
    assert err.strip().endswith(
        "cannot import 'my_policies': No module named 'my_policies' "
        "(for the file my_policies.py, write --policy my_policies.py:push_right)"
    )


def test_torch_policies_torchscript_and_state_dict_but_never_pickle(capsys, tmp_path, policy_file):
    import torch

    sys.path.insert(0, str(tmp_path))
    try:
        import my_policies
    finally:
        sys.path.remove(str(tmp_path))
    net = my_policies.Net()
    with torch.no_grad():
        net.linear.weight.copy_(torch.tensor([[0.05, 0.1, 1.0, 0.5]]))
        net.linear.bias.zero_()
    scripted, weights, pickled = tmp_path / "net.pt", tmp_path / "w.pt", tmp_path / "net.pkl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
        torch.jit.script(net).save(str(scripted))
    torch.save(net.state_dict(), weights)
    torch.save(net, pickled)
    common = ["CartPole-v1", "--min-rollouts", 2, "--seed", 0]

    code, out, _ = run(capsys, "sample", *common, "--policy", scripted)
    assert code == 0
    assert table_value(out, "return min / max") == "500 / 500"  # the balance controller

    exported = tmp_path / "net.pt2"  # torch.export, with a dynamic batch dimension
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, exported)
    code, out, err = run(capsys, "sample", *common, "--policy", exported)
    assert code == 0, err
    assert f"policy torch.export program {exported}" in out
    assert table_value(out, "return min / max") == "500 / 500"

    fixed = tmp_path / "fixed.pt2"  # exported for a batch of 2 only: refused before sampling
    torch.export.save(torch.export.export(net, (torch.zeros(2, 4),)), fixed)
    code, out, err = run(capsys, "sample", *common, "--policy", fixed)
    assert code == 1
    assert f"--policy {str(fixed)!r} must accept any batch size" in err
    assert "Dim('batch')" in err
    assert "Traceback" not in err
    # A dynamic batch but another observation width: named as such, not as a fixed batch.
    code, out, err = run(capsys, "sample", "Pendulum-v1", "--min-rollouts", 1, "--policy", exported)
    assert code == 1
    assert f"--policy {str(exported)!r} must accept the env's observations of shape (3,)" in err
    assert "batch size" not in err

    code, out, _ = run(
        capsys, "sample", *common, "--policy", f"{policy_file}:Net", "--weights", weights
    )
    assert code == 0
    assert table_value(out, "return min / max") == "500 / 500"
    # Weights that do not fit: torch's keys and shapes, all on the one line.
    wrong = tmp_path / "wrong.pt"
    torch.save({"linear.weight": torch.zeros(3, 4), "linear.bias": torch.zeros(3)}, wrong)
    code, _, err = run(
        capsys, "sample", *common, "--policy", f"{policy_file}:Net", "--weights", wrong
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "size mismatch for linear.weight" in err
    assert "torch.Size([3, 4])" in err

    code, _, err = run(capsys, "sample", *common, "--policy", pickled)
    assert code == 1
    assert "is not a readable TorchScript module" in err
    assert "never unpickles" in err

    code, _, err = run(capsys, "sample", *common, "--policy", "random", "--weights", weights)
    assert code == 2


@pytest.mark.slow
def test_sb3_zip_policy(capsys, tmp_path):
    from stable_baselines3 import PPO

    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu", seed=0).save(
        tmp_path / "ppo.zip"
    )
    code, out, err = run(
        capsys, "sample", "CartPole-v1", "--policy", f"sb3:PPO:{tmp_path / 'ppo.zip'}",
        "--min-rollouts", 2, "--seed", 0,
    )  # fmt: skip
    assert code == 0, err
    assert "policy PPO from" in out
    code, _, err = run(capsys, "sample", "CartPole-v1", "--policy", tmp_path / "ppo.zip")
    assert code == 1
    # torch's reason for refusing the file ("[enforce fail at inline_container.cc:180] ") is
    # left out: the advice is what helps.
    path = str(tmp_path / "ppo.zip")
    assert err == (
        f"gymsamp: error: --policy {path!r} is not a readable TorchScript module; it looks "
        f"like a stable-baselines3 model: use --policy sb3:ALGO:PATH (e.g. sb3:PPO:{path}, "
        "ALGO being the algorithm that saved it)\n"
    )


def test_an_sb3_zip_loaded_as_another_algorithm_says_which_was_asked_for(capsys, tmp_path):
    # It said only "SB3 could not load it: 'ActorCriticPolicy' object has no attribute 'q_net'".
    from stable_baselines3 import PPO

    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu", seed=0).save(
        tmp_path / "ppo.zip"
    )
    policy = f"sb3:dqn:{tmp_path / 'ppo.zip'}"
    code, out, err = run(capsys, "sample", "CartPole-v1", "--policy", policy)
    assert (code, out) == (1, "")
    assert err == (
        f"gymsamp: error: --policy {policy!r}: SB3 could not load it as a DQN model (was it "
        "saved by another algorithm?): 'ActorCriticPolicy' object has no attribute 'q_net'\n"
    )
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    policy = f"sb3:PPO:{tmp_path / 'junk.zip'}"
    code, _, err = run(capsys, "sample", "CartPole-v1", "--policy", policy)
    assert code == 1
    assert err.startswith(f"gymsamp: error: --policy {policy!r}: SB3 could not load it: ")


def test_sb3_zip_path_without_its_suffix_loads_as_sb3_loads_it(capsys, tmp_path):
    # model.save("ppo") writes ppo.zip and PPO.load("ppo") reads it; the CLI said
    # "no such file 'ppo'" for sb3:PPO:ppo.
    import gymnasium as gym
    from stable_baselines3 import PPO

    from gymsamp.sampling import derive_seed

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu", seed=0)
    model.save(tmp_path / "ppo")
    assert [p.name for p in tmp_path.iterdir()] == ["ppo.zip"]
    out_file = tmp_path / "rollouts.npz"
    code, _, err = run(
        capsys, "sample", "CartPole-v1", "--policy", f"sb3:PPO:{tmp_path / 'ppo'}",
        "--min-rollouts", 2, "--num-workers", 2, "--seed", 5, "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    # The rollouts are SB3's own loop: reset with rollout k's seed, predict, step.
    for k, ro in enumerate(load_rollouts(out_file)):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=derive_seed(5, 0, k))
        for t in range(ro.length):
            np.testing.assert_array_equal(ro.observations[t], obs)
            action, _ = model.predict(obs, deterministic=True)
            assert ro.actions[t] == action
            obs, *_ = env.step(action)
        env.close()
    missing = f"sb3:PPO:{tmp_path / 'other'}"
    code, _, err = run(capsys, "sample", "CartPole-v1", "--policy", missing)
    assert code == 2
    assert err == (
        f"gymsamp: error: --policy {missing!r}: no such file {str(tmp_path / 'other')!r} "
        f"(nor {str(tmp_path / 'other.zip')!r})\n"
    )


# ----------------------------------------------------------------------------------------------
# gymsamp info / params / plot
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "cp.npz"
    code = main(
        ["sample", "CartPole-v1", "--policy", "balance", "--min-rollouts", "10", "--seed", "0",
         "--randomize", "length=uniform:0.5,0.45", "--out", str(path), "--quiet"]
    )  # fmt: skip
    assert code == 0
    return path


def test_info_repeats_the_sample_summary(capsys, saved):
    code, out, _ = run(capsys, "info", saved)
    assert code == 0
    assert out.splitlines()[0] == f"{saved}: 10 rollouts of CartPole-v1"
    rollouts = load_rollouts(saved)
    returns = [ro.undiscounted_return() for ro in rollouts]
    assert table_value(out, "rollouts") == "10"
    assert table_value(out, "steps") == f"{sum(ro.length for ro in rollouts):,}"
    assert table_value(out, "return min / max").startswith(f"{min(returns):g}")
    assert "CVaR 10%" in out
    length_row = next(line for line in out.splitlines() if line.startswith("  length"))
    assert "0.5" in length_row
    assert "varies" in length_row
    assert out.splitlines()[-1].startswith("CartPole-v1: mean return")
    code, out, _ = run(capsys, "info", saved, "--cvar", 0.3)
    assert "CVaR 30%" in out


def test_info_repeats_the_ci_of_a_run_with_a_seed_other_than_zero(capsys, tmp_path):
    # Both bootstrap with seed 0, whatever the sampling seed: `info` repeats the run's CI.
    out_file = tmp_path / "r.npz"
    code, sampled, _ = run(
        capsys, "sample", "CartPole-v1", "--seed", 7, "--min-rollouts", 6, "--num-workers", 1,
        "--out", out_file,
    )  # fmt: skip
    assert code == 0
    code, shown, _ = run(capsys, "info", out_file)
    assert code == 0
    returns = np.array([ro.undiscounted_return() for ro in load_rollouts(out_file)])
    stat, lo, hi = bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=0)
    ci = f"{fmt(returns.mean())}   95% CI [{fmt(2 * stat - hi)}, {fmt(2 * stat - lo)}]"
    assert table_value(sampled, "return mean").startswith(ci)
    assert table_value(shown, "return mean") == table_value(sampled, "return mean")


def test_params_lists_parameters_and_state(capsys):
    code, out, _ = run(capsys, "params", "CartPole-v1")
    assert code == 0
    assert "  length     0.5" in out
    assert (
        "initial state: can be set with --init-state, 4 values: x, x_dot, theta, theta_dot" in out
    )
    code, out, _ = run(capsys, "params", "gymsamp/Counting-v0")
    assert code == 0
    assert "initial state: can be set with --init-state, 1 value: count\n" in out
    code, out, _ = run(capsys, "params", "gymsamp/Raising-v0")
    assert code == 0
    assert "domain parameters: none" in out
    assert "initial state: cannot be set" in out


def test_infinite_returns_are_summarized_saved_and_plotted(capsys, tmp_path, monkeypatch):
    # The summary's bootstrap refused the infinity: the run ended with "data must be finite"
    # after sampling, and neither --out nor --plot was written.
    (tmp_path / "gymsamp_cli_inf_envs.py").write_text(
        textwrap.dedent(
            """
            import gymnasium as gym
            import numpy as np

            class CrashPenalty(gym.Env):
                observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
                action_space = gym.spaces.Discrete(2)

                def reset(self, *, seed=None, options=None):
                    super().reset(seed=seed)
                    self.crash = self.np_random.random() < 0.5
                    return np.zeros(1, np.float32), {}

                def step(self, action):
                    return np.zeros(1, np.float32), -np.inf if self.crash else 1.0, True, False, {}

            gym.register("CrashPenaltyCli-v0", entry_point=CrashPenalty)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out_file, png = tmp_path / "inf.npz", tmp_path / "inf.png"
    code, out, err = run(
        capsys, "sample", "gymsamp_cli_inf_envs:CrashPenaltyCli-v0", "--min-rollouts", 8,
        "--seed", 0, "--out", out_file, "--plot", png,
    )  # fmt: skip
    assert code == 0, err
    returns = [float(ro.rewards.sum()) for ro in load_rollouts(out_file)]
    crashes = returns.count(-math.inf)
    assert 0 < crashes < 8
    assert returns.count(1.0) == 8 - crashes
    assert (
        table_value(out, "return mean") == f"-inf   95% CI n/a ({crashes} of 8 returns not finite)"
    )
    assert table_value(out, "return min / max") == "-inf / 1"
    assert_png(png)


def test_an_env_registered_by_a_module_is_found_by_gymnasiums_module_prefix(
    capsys, tmp_path, monkeypatch
):
    """Gymnasium's "module:EnvId" form imports the module that registers the env; here a
    Dict-observation Pendulum, whose simulator's labels are not shown for the Dict."""
    (tmp_path / "gymsamp_cli_test_envs.py").write_text(
        textwrap.dedent(
            """
            import gymnasium as gym
            from tests.helpers import DictPendulum

            gym.register("DictPendulumCli-v0", entry_point=DictPendulum, max_episode_steps=200)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    env_id = "gymsamp_cli_test_envs:DictPendulumCli-v0"
    code, out, _ = run(capsys, "params", env_id)
    assert code == 0
    assert "observation space: Dict('angle': Box(-1.0, 1.0, (2,), float32), 'speed'" in out
    assert "theta_dot)" not in out.split("observation space:")[1].splitlines()[0]
    code, out, _ = run(
        capsys, "sample", env_id, "--max-steps", 5, "--min-rollouts", 2, "--num-workers", 1,
        "--seed", 0, "--out", tmp_path / "dict.npz",
    )  # fmt: skip
    assert code == 0
    sampled = table_value(out, "domain params")
    rollouts = load_rollouts(tmp_path / "dict.npz")
    assert [ro.observations["speed"].shape for ro in rollouts] == [(6, 1), (6, 1)]
    # The saved id keeps its module, so `info` can make the env and read its nominals.
    assert rollouts[0].rollout_info["cli_env"] == {"env": env_id, "env_kwarg": []}
    code, out, _ = run(capsys, "info", tmp_path / "dict.npz")
    assert code == 0
    assert table_value(out, "domain params") == sampled == "all 6 at nominal"
    code, _, err = run(capsys, "params", "gymsamp_no_such_module:Foo-v0")
    assert code == 2
    assert "cannot import 'gymsamp_no_such_module'" in err


@pytest.mark.parametrize("kind", ["all", "returns", "trajectories"])
def test_plot_command(capsys, saved, tmp_path, kind):
    png = tmp_path / f"{kind}.png"
    code, out, _ = run(capsys, "plot", saved, "-o", png, "--kind", kind)
    assert code == 0
    assert out.strip() == f"wrote {png}"
    assert_png(png)


def test_a_plot_that_cannot_be_written_is_a_one_line_error(capsys, saved, tmp_path, monkeypatch):
    from gymsamp import plot

    def full_disk(fig, out):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "save_figure", full_disk)
    png = tmp_path / "p.png"
    code, out, err = run(capsys, "plot", saved, "-o", png, "--kind", "returns")
    assert (code, out) == (1, "")
    assert (
        err
        == f"gymsamp: error: cannot write the plot '{png}': [Errno 28] No space left on device\n"
    )


@pytest.mark.parametrize("record_states", [False, True])
def test_sample_plot_draws_the_states_where_recorded(capsys, tmp_path, monkeypatch, record_states):
    matplotlib = pytest.importorskip("matplotlib")
    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # text as <text>, not paths
    svg = tmp_path / "p.svg"
    flags = ["--record-states"] if record_states else []
    code, _, err = run(
        capsys, "sample", "Pendulum-v1", "--seed", 0, "--min-rollouts", 2, "--max-steps", 5,
        "--num-workers", 1, *flags, "--plot", svg, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    titles = set(re.findall(r">((?:state|observation|action) [^<]*)<", svg.read_text()))
    if record_states:
        assert titles == {"state theta", "state theta_dot", "action torque"}
    else:
        names = ("cos_theta", "sin_theta", "theta_dot")
        assert titles == {*(f"observation {name}" for name in names), "action torque"}


def test_plot_grid_or_states_that_are_not_there_is_an_error(capsys, saved, tmp_path):
    code, _, err = run(capsys, "plot", saved, "-o", tmp_path / "g.png", "--kind", "grid")
    assert code == 1
    assert "do not vary domain parameters on a grid" in err
    code, _, err = run(capsys, "plot", saved, "-o", tmp_path / "g.png", "--states")
    assert code == 1
    assert "holds no states (sample with --record-states" in err


def test_plot_states_of_an_env_without_states_does_not_advise_record_states(capsys, tmp_path):
    out = tmp_path / "fl.npz"
    code, _, err = run(
        capsys, "sample", "FrozenLake-v1", "--min-rollouts", 2, "--seed", 0, "--quiet",
        "--out", out,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "plot", out, "-o", tmp_path / "fl.png", "--states")
    assert code == 1
    assert err == (
        f"gymsamp: error: {out} holds no states: the state of FrozenLake-v1 cannot be "
        "recorded (no adapter)\n"
    )


# ----------------------------------------------------------------------------------------------
# Errors: one line on stderr, non-zero exit, never a traceback
# ----------------------------------------------------------------------------------------------

ERRORS = [
    (["sample", "NoSuchEnv-v0"], 2, "unknown environment id 'NoSuchEnv-v0'"),
    (
        ["sample", "CartPole-v1", "--domain-param", "polelength=1"],
        2,
        "unknown parameter polelength for CartPole-v1; valid names: gravity, masscart, "
        "masspole, length, force_mag, tau",
    ),
    (["sample", "CartPole-v1", "--randomize", "length=beta:1,2"], 2, "--randomize must look"),
    (["sample", "CartPole-v1", "--randomize", "length=uniform:1"], 2, "needs 2 numbers"),
    (["sample", "CartPole-v1", "--randomize", "length=normal:1,-1"], 2, "std must be"),
    (["sample", "CartPole-v1", "--randomize", "length=normal:1,1,0"], 2, "needs 2 or 4 numbers"),
    (
        ["sample", "CartPole-v1", "--randomize", "length=normal:0.5,0.5"],
        2,
        "--randomize length=normal(mean=0.5, std=0.5) can draw -2 (5 std from the mean; give "
        "clip bounds: NAME=normal:MEAN,STD,LOW,HIGH): domain_param['length'] must be",
    ),
    (
        ["sample", "CartPole-v1", "--randomize", "length=normal:0.5,0.5,0,2"],
        2,
        "draws up to its clip bound 0: domain_param['length'] must be a finite real number > 0",
    ),
    (["sample", "CartPole-v1", "--randomize", "foo=normal:1,1"], 2, "unknown parameter foo"),
    (["sample", "CartPole-v1", "--grid", "length=a,b"], 2, "must be a number"),
    # An infinite LOW is legal (one-sided clipping); the hint asked for clip bounds anyway.
    (
        ["sample", "CartPole-v1", "--randomize", "masspole=normal:0.1,0.05,-inf,1"],
        2,
        "can draw -0.15 (5 std from the mean; give a finite LOW)",
    ),
    (
        ["sample", "CartPole-v1", "--randomize", "masspole=normal:0.1,0.05"],
        2,
        "can draw -0.15 (5 std from the mean; give clip bounds: NAME=normal:MEAN,STD,LOW,HIGH)",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=0.1:x:3"],
        2,
        "--grid length stop must be a number",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=y:1:3"],
        2,
        "--grid length start must be a number",
    ),
    (
        ["sample", "CartPole-v1", "--domain-param", "length"],
        2,
        "--domain-param must look like NAME=VALUE, got 'length'",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=1:2"],
        2,
        "--grid must look like NAME=V1,V2,... or NAME=START:STOP:NUM, got 'length=1:2'",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=1:2:x"],
        2,
        "NUM must be an int from 1 to 100000, got 'x'",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=1:2:0"],
        2,
        "NUM must be an int from 1 to 100000, got '0'",
    ),
    (
        [
            "sample",
            "CartPole-v1",
            "--grid",
            "length=1,2",
            "--grid",
            "tau=0.01,0.02",
            "--grid",
            "gravity=9,10",
        ],
        2,
        "--grid takes 1 or 2 parameters, got 3: length, tau, gravity",
    ),
    (
        ["sample", "CartPole-v1", "--num-workers", "x"],
        2,
        "argument --num-workers: must be an int >= 1, got 'x'",
    ),
    (
        ["sample", "CartPole-v1", "--step-timeout", "x"],
        2,
        "argument --step-timeout: must be a number of seconds > 0, got 'x'",
    ),
    (["info", "x.npz", "--cvar", "x"], 2, "argument --cvar: must be a number in (0, 1], got 'x'"),
    (
        ["params", "CartPole-v1", "--env-kwarg", "nosuch=1"],
        2,
        "cannot make 'CartPole-v1': CartPoleEnv.__init__() got an unexpected keyword argument "
        "'nosuch'",
    ),
    (["sample", "CartPole-v1", "--init-state", "1,2"], 2, "--init-state must have 4 values"),
    (["sample", "CartPole-v1", "--cvar", "1.5"], 2, "--cvar must be in (0, 1]"),
    # Its inverse overflows: the summary's rollout count raised OverflowError after the run.
    (
        ["info", "x.npz", "--cvar", "1e-320"],
        2,
        "--cvar must be in (0, 1] with a finite inverse, got 1e-320",
    ),
    (["sample", "CartPole-v1", "--policy", "nope"], 2, "unknown policy 'nope'"),
    # Bad arguments exit 2 (the documented rule), also where only trying them tells.
    (["sample", "CartPole-v1", "--policy", "no_such_module:x"], 2, "cannot import"),
    (["sample", "CartPole-v1", "--policy", "numpy:nosuch"], 2, "'numpy' has no attribute"),
    # A relative module name failed inside importlib (exit code 1, "package argument").
    (
        ["sample", "CartPole-v1", "--policy", "..foo:bar"],
        2,
        "--policy module:attr must name an absolute module (or a file.py), got '..foo:bar'",
    ),
    (["sample", "CartPole-v1", "--policy", f"sb3:FOO:{__file__}"], 2, "unknown algorithm 'FOO'"),
    (["sample", "no_such_module:Env-v0"], 2, "cannot import 'no_such_module'"),
    (["sample", "Pendulum-v1", "--policy", "balance"], 2, "is a CartPole controller"),
    (["sample", "CartPole-v1", "--num-workers", "0"], 2, "must be an int >= 1"),
    (["sample", "gymsamp/Raising-v0", "--domain-param", "a=1"], 2, "has no domain parameters"),
    (["sample", "gymsamp/Raising-v0", "--init-state", "1"], 2, "cannot be set (no adapter)"),
    # Sampling would record no states (and plot --states would then advise this very flag).
    (
        ["sample", "gymsamp/Raising-v0", "--record-states"],
        2,
        "--record-states: the state of gymsamp/Raising-v0 cannot be recorded (no adapter)",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=1,2", "--randomize", "tau=uniform:0.02,0.01"],
        2,
        "cannot be combined",
    ),
    (
        ["sample", "CartPole-v1", "--domain-param", "length=1", "--domain-param", "length=2"],
        2,
        "parameter set more than once: length",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=0.5,1", "--grid", "length=1,2"],
        2,
        "parameter set more than once: length",
    ),
    (
        ["sample", "CartPole-v1", "--domain-param", "length=-1"],
        2,
        "--domain-param: domain_param['length'] must be a finite real number > 0, got -1.0",
    ),
    (
        ["sample", "CartPole-v1", "--grid", "length=1:0:3"],
        2,
        "--grid: domain_param['length'] must be a finite real number > 0, got 0.0",
    ),
    (
        ["sample", "CartPole-v1", "--randomize", "length=uniform:0.1,0.5"],
        2,
        "--randomize length=uniform(mean=0.1, halfspan=0.5) draws from -0.4 to 0.6: "
        "domain_param['length'] must be a finite real number > 0, got -0.4",
    ),
    (
        ["sample", "CartPole-v1", "--out", "runs/"],
        2,
        "--out must be a file path such as runs/rollouts.npz, got 'runs/' (a folder)",
    ),
    (["sample", "CartPole-v1", "--plot", "."], 2, "--plot must be a file path such as"),
    (["sample", "CartPole-v1", "--plot", "r.v2"], 2, "--plot must name an image file (."),
    (["plot", "x.npz", "-o", "/"], 2, "--output must be a file path such as"),
    (["sample", "CartPole-v1", "--out", f"{__file__}/x.npz"], 2, f"{__file__!r} is a file, not"),
    (["sample"], 2, "the following arguments are required: ENV"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["info", "/no/such/file.npz"], 1, "cannot read '/no/such/file.npz': no such file"),
    (["params", "NoSuchEnv-v0"], 2, "unknown environment id"),
    # An empty path (--out "$OUT" with OUT unset) wrote nothing and exited 0.
    (["sample", "CartPole-v1", "--out", ""], 2, "--out must be a file path such as"),
    (["sample", "CartPole-v1", "--plot", ""], 2, "--plot must be a file path such as"),
    (
        ["plot", "x.npz", "-o", ""],
        2,
        "--output must be a file path such as runs/rollouts.png, got ''",
    ),
    # The plot overwrote the rollouts, and both "wrote" lines were printed.
    (
        ["sample", "CartPole-v1", "--out", "same.png", "--plot", "./same.png"],
        2,
        "--out and --plot must be different files (the plot would overwrite the rollouts), got "
        "--out 'same.png' and --plot './same.png'",
    ),
]


@pytest.mark.parametrize(("argv", "exit_code", "message"), ERRORS)
def test_errors_are_one_line(capsys, argv, exit_code, message):
    code, out, err = run(capsys, *argv)
    assert code == exit_code
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gymsamp: error: ")
    assert message in err


def test_an_unknown_plot_suffix_lists_the_formats_this_matplotlib_writes(capsys):
    # The list is matplotlib's own, so it differs by version: matplotlib 3.11 added .avif, which
    # 3.10 (the newest release for Python 3.10) lacks; a test that pinned ".avif" failed there.
    from matplotlib.figure import Figure

    formats = ", ".join(f".{f}" for f in sorted(Figure().canvas.get_supported_filetypes()))
    assert {".pdf", ".png", ".svg"} <= set(formats.split(", "))
    code, out, err = run(capsys, "sample", "CartPole-v1", "--plot", "r.v2")
    assert (code, out) == (2, "")
    assert err == f"gymsamp: error: --plot must name an image file ({formats}), got 'r.v2'\n"


def test_unreadable_files_are_one_line_errors(capsys, tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"definitely not a zip archive")
    npz = tmp_path / "plain.npz"
    np.savez(npz, x=np.arange(3))
    for path in (junk, npz, tmp_path):
        for command in (["info", path], ["plot", path, "-o", tmp_path / "x.png"]):
            code, _, err = run(capsys, *command)
            assert code == 1
            assert len(err.splitlines()) == 1
            assert err.startswith(f"gymsamp: error: cannot read '{path}'")


def test_a_folder_given_as_the_file_is_named_a_directory(capsys, tmp_path):
    # It was called "not a gymsamp rollout file": the loader's own error for a folder came
    # first, so the message for a folder never showed.
    for command in (["info", tmp_path], ["plot", tmp_path, "-o", tmp_path / "x.png"]):
        assert run(capsys, *command) == (
            1,
            "",
            f"gymsamp: error: cannot read '{tmp_path}': it is a directory\n",
        )


@pytest.mark.parametrize(
    ("rollouts", "message"),
    [
        ([], "{path!r} holds no rollouts"),
        # Not "not a gymsamp rollout file": the loader says what is wrong with a damaged one.
        (
            [StepSequence(rewards=[1.0], observations=[[0.0], [1.0]], actions=[0])],
            "cannot read {path!r}: {path} is not a valid gymsamp file: ",
        ),
    ],
    ids=["empty", "damaged"],
)
def test_a_file_without_usable_rollouts_is_a_one_line_error(capsys, tmp_path, rollouts, message):
    path = save_rollouts(tmp_path / "r.npz", rollouts)
    if rollouts:  # damage it: the rollout_infos of one rollout hold two infos
        with np.load(path) as npz:
            members = {name: npz[name] for name in npz.files}
        meta = json.loads(members["__gymsamp__.json"].tobytes())
        meta["content"][0]["__stepsequence__"]["rollout_infos"].append(None)
        members["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(path, **members)
    code, out, err = run(capsys, "info", path)
    assert (code, out) == (1, "")
    assert err.startswith("gymsamp: error: " + message.format(path=str(path)))
    assert len(err.splitlines()) == 1


def test_info_of_rollouts_of_an_env_not_installed_here_summarizes_them(capsys, tmp_path):
    ro = StepSequence(
        rewards=[1.0, 2.0],
        observations=[[0.0], [1.0], [2.0]],
        actions=[0, 1],
        truncated=[False, True],
        rollout_info={"env_id": "NoSuchEnv-v0"},
    )
    path = save_rollouts(tmp_path / "r.npz", [ro, ro])
    code, out, err = run(capsys, "info", path)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"{path}: 2 rollouts of NoSuchEnv-v0"
    assert table_value(out, "return mean").startswith("3 ")
    assert "domain params" not in out  # no nominals to compare with


def test_env_kwargs_are_python_literals_or_else_plain_strings(capsys, monkeypatch):
    import gymnasium as gym

    made = []
    real_make = gym.make

    def make(env_id, **kwargs):
        made.append(kwargs)
        return real_make(env_id, **kwargs)

    monkeypatch.setattr(gym, "make", make)
    code, out, err = run(
        capsys, "params", "CartPole-v1", "--env-kwarg", "render_mode=rgb_array",
        "--env-kwarg", "max_episode_steps=7",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert made == [{"render_mode": "rgb_array", "max_episode_steps": 7}]
    assert "episode limit: 7 steps" in out


def test_unexpected_errors_and_interrupts(capsys, monkeypatch):
    import gymsamp.cli as cli

    def boom(args):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(cli, "_cmd_params", boom)
    code, _, err = run(capsys, "params", "CartPole-v1")
    assert code == 1
    assert err == (
        "gymsamp: error: RuntimeError: something broke (run with --traceback for details)\n"
    )
    with pytest.raises(RuntimeError, match="something broke"):
        main(["--traceback", "params", "CartPole-v1"])
    with pytest.raises(RuntimeError, match="something broke"):  # where the hint suggests it
        main(["params", "CartPole-v1", "--traceback"])

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_params", interrupted)
    code, _, err = run(capsys, "params", "CartPole-v1")
    assert code == 130
    assert err == "gymsamp: interrupted\n"


# ----------------------------------------------------------------------------------------------
# As a program: python -m gymsamp, the console script, Ctrl-C
# ----------------------------------------------------------------------------------------------


def gymsamp_process(*argv, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "gymsamp", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_python_m_gymsamp(tmp_path):
    done = gymsamp_process("--help")
    assert done.returncode == 0
    assert "usage: gymsamp" in done.stdout
    for command in ("sample", "info", "params", "plot"):
        assert command in done.stdout
    done = gymsamp_process("sample", *COUNTING, "--min-rollouts", 2, "--seed", 0)
    assert done.returncode == 0, done.stderr
    assert "mean return 10" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [(["sample", "NoSuchEnv-v0"], 2), (["sample", "CartPole-v1", "--randomize", "x"], 2),
     (["info", "missing.npz"], 1)],
)  # fmt: skip
def test_python_m_gymsamp_errors(tmp_path, argv, exit_code):
    done = gymsamp_process(*argv, cwd=tmp_path)
    assert done.returncode == exit_code
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gymsamp: error: ")


def test_console_script_entry_point():
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("gymsamp") == "gymsamp.cli:main"


def test_importing_the_cli_stays_light():
    code = (
        "import sys, gymsamp.cli, gymsamp.summary\n"
        "print(sorted({'torch', 'matplotlib', 'stable_baselines3'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def session_processes(session_id):
    """Live (non-zombie) processes of a session."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(entry))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_exits_130_and_leaves_no_worker(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "gymsamp", "sample", "CartPole-v1", "--min-rollouts", "1000000",
         "--vectorization", "async", "--num-workers", "2", "--seed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(session_processes(proc.pid)) < 3:  # the command and its 2 workers
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # let sampling get going
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "gymsamp: interrupted"
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_processes(proc.pid) == []


def test_sample_summary_reports_nan_free_numbers(capsys):
    # One rollout: no interval, CVaR of the single return with --cvar 1.
    code, out, _ = run(capsys, "sample", *COUNTING, "--min-rollouts", 1, "--seed", 0, "--cvar", 1)
    assert code == 0
    assert "95% CI n/a (needs 2 rollouts)" in table_value(out, "return mean")
    assert table_value(out, "CVaR 100%").startswith("10")
    assert "nan" not in out
    assert not math.isnan(float(table_value(out, "return std")))


@pytest.mark.parametrize(
    ("attr", "got"),
    [
        ("os:getcwd", r"got getcwd\(\), which cannot take an observation batch"),
        ("os:sep", "got str '/'"),
    ],
)
def test_a_module_attribute_that_is_no_policy_is_explained(capsys, attr, got):
    # os:getcwd failed while sampling with "posix.getcwd() takes no arguments (1 given)".
    code, _, err = run(capsys, "sample", "CartPole-v1", "--policy", attr, "--min-rollouts", 1)
    assert code == 1
    assert f"--policy '{attr}': the attribute must be a policy" in err
    assert "or a factory taking the env spec" in err
    assert re.search(got, err), err


def test_files_are_written_even_when_the_reader_closes_the_pipe(tmp_path):
    # The summary went first: a closed pipe (| head -1) ended the command before --out.
    out = tmp_path / "r.npz"
    gymsamp = [sys.executable, "-m", "gymsamp"]
    command = [*gymsamp, "sample", "gymsamp/Counting-v0", "--min-rollouts", "2", "--seed", "1"]
    proc = subprocess.Popen(
        [*command, "--max-steps", "3", "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    proc.wait(timeout=120)
    assert out.exists()
    assert len(load_rollouts(out)) == 2


# ----------------------------------------------------------------------------------------------
# Checked up front: outputs, time limits, step timeouts, --stochastic, SB3 spaces; save errors
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A file with rollouts of two envs of different observation widths (1 and 4)."""
    from gymsamp.data.io import save_rollouts

    folder = tmp_path_factory.mktemp("mixed")
    for name, argv in (("c", COUNTING), ("p", ["CartPole-v1", "--vectorization", "sync"])):
        code = main(
            ["sample", *argv, "--min-rollouts", "3", "--seed", "0", "--num-workers", "1",
             "--out", str(folder / f"{name}.npz"), "--quiet"]
        )  # fmt: skip
        assert code == 0
    rollouts = load_rollouts(folder / "c.npz") + load_rollouts(folder / "p.npz")
    return save_rollouts(folder / "mixed.npz", rollouts)


def test_info_names_every_env_of_a_mixed_file(capsys, mixed):
    # It named the first env alone: "6 rollouts of gymsamp/Counting-v0".
    code, out, _ = run(capsys, "info", mixed)
    assert code == 0
    assert out.splitlines()[0] == (
        f"{mixed}: 6 rollouts of 2 envs: gymsamp/Counting-v0 (3), CartPole-v1 (3) "
        "(--env ENV_ID for one)"
    )
    assert table_value(out, "envs") == (
        "gymsamp/Counting-v0 3, CartPole-v1 3 (mixed: the statistics pool their returns)"
    )
    assert out.splitlines()[-1].startswith(
        "mixed: gymsamp/Counting-v0 (3), CartPole-v1 (3): mean return"
    )
    code, out, _ = run(capsys, "info", mixed, "--env", "CartPole-v1")
    assert code == 0
    assert out.splitlines()[0] == f"{mixed}: 3 rollouts of CartPole-v1"
    assert "envs  " not in out
    code, _, err = run(capsys, "info", mixed, "--env", "Pendulum-v1")
    assert code == 2
    assert err == (
        f"gymsamp: error: --env must be an env id of {str(mixed)!r} (gymsamp/Counting-v0, "
        "CartPole-v1), got 'Pendulum-v1'\n"
    )


@pytest.mark.parametrize("kind", ["all", "trajectories", "grid"])
def test_plot_of_a_mixed_file_needs_one_env(capsys, mixed, tmp_path, kind):
    # The trajectories failed with "IndexError: index 1 is out of bounds for axis 1 with size 1".
    png = tmp_path / "m.png"
    code, out, err = run(capsys, "plot", mixed, "-o", png, "--kind", kind)
    assert code == 2
    assert out == ""
    assert err == (
        f"gymsamp: error: --kind {kind} must plot the rollouts of one env, got {str(mixed)!r} "
        "with rollouts of 2 envs: gymsamp/Counting-v0 (3), CartPole-v1 (3); pick one with "
        "--env gymsamp/Counting-v0, or plot all their returns with --kind returns\n"
    )
    if kind != "grid":
        code, out, err = run(
            capsys, "plot", mixed, "-o", png, "--kind", kind, "--env", "CartPole-v1"
        )
        assert code == 0, err
        assert_png(png)


def test_plot_returns_of_a_mixed_file_plots_them_all(capsys, mixed, tmp_path):
    png = tmp_path / "r.png"
    code, _, err = run(capsys, "plot", mixed, "-o", png, "--kind", "returns")
    assert code == 0, err
    assert_png(png, min_bytes=5_000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="makes a FIFO")
def test_output_paths_are_checked_before_sampling(capsys, tmp_path):
    # /proc/x.npz passed (os.access lets root write anywhere) and failed after sampling.
    # A FIFO in tmp_path, not a device such as /dev/null: as root, a regressed check would let
    # the writer rename its temporary file onto the path, and replace the device.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    bad = [("--out", str(fifo), "is not a regular file")]
    if sys.platform.startswith("linux") and Path("/proc").is_dir():
        bad += [("--out", "/proc/x.npz", "(not in '/proc': "),
                ("--plot", "/proc/new/x.png", "(not in '/proc': ")]  # fmt: skip
    for option, path, why in bad:
        code, out, err = run(capsys, "sample", *COUNTING, "--min-rollouts", 2, option, path)
        assert code == 2
        assert out == ""  # nothing was sampled
        assert err.startswith(f"gymsamp: error: {option} must be ")
        assert f"got {path!r}" in err
        assert why in err
        assert len(err.splitlines()) == 1
    # Missing folders are still created, and nothing is left where the check wrote.
    out_file = tmp_path / "new" / "sub" / "r.npz"
    code, _, _ = run(capsys, "sample", *COUNTING, "--min-rollouts", 2, "--out", out_file)
    assert code == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["fifo", "new", "r.npz", "sub"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to read-only folders"
)
def test_an_unwritable_folder_is_refused_before_sampling(capsys, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, out, err = run(capsys, "sample", *COUNTING, "--out", folder / "r.npz")
    finally:
        folder.chmod(0o755)
    assert code == 2
    assert out == ""
    assert "--out must be a path in a folder where files can be created" in err


def test_an_env_without_a_time_limit_gets_rollouts_cut_and_says_so(capsys):
    # gymsamp/Counting-v0 never ends a rollout: the command ran forever.
    code, out, _ = run(
        capsys, "sample", "gymsamp/Counting-v0", "--min-rollouts", 2, "--seed", 0,
        "--num-workers", 1,
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[0].endswith(
        ", rollouts cut at 1000 steps (the env has no time limit; set --max-steps N to change)"
    )
    assert table_value(out, "steps") == "2,000"
    assert table_value(out, "endings") == "TERMINAL 0, TIMEOUT 2"
    # --max-steps, or a time limit of the env's own: not cut, not said.
    for extra in (["--max-steps", 3], ["--env-kwarg", "max_episode_steps=3"]):
        code, out, _ = run(
            capsys, "sample", "gymsamp/Counting-v0", "--min-rollouts", 2, "--num-workers", 1,
            *extra,
        )  # fmt: skip
        assert code == 0
        assert "rollouts cut at" not in out.splitlines()[0]
        assert table_value(out, "steps") == "6"
    code, out, _ = run(capsys, "sample", "CartPole-v1", "--policy", "balance", "--min-rollouts", 1)
    assert table_value(out, "steps") == "500"  # CartPole-v1's own limit
    assert "rollouts cut at" not in out


def test_step_timeout_ends_a_hanging_run_with_an_error(capsys):
    hanging = ["gymsamp/Hanging-v0", "--env-kwarg", "hang_at=2", "--env-kwarg", "hang_seconds=30"]
    start = time.perf_counter()
    code, out, err = run(
        capsys, "sample", *hanging, "--step-timeout", 0.5, "--num-workers", 1,
        "--min-rollouts", 1, "--seed", 0,
    )  # fmt: skip
    assert time.perf_counter() - start < 20
    assert code == 1
    assert "1 worker (batched)" in out.splitlines()[0]
    assert err == (
        "gymsamp: error: --step-timeout 0.5: sub-env 0 did not finish its step within "
        "step_timeout=0.5 s\n"
    )
    code, out, _ = run(
        capsys, "sample", *COUNTING[:3], "--step-timeout", 5, "--num-workers", 1,
        "--min-rollouts", 2, "--seed", 0,
    )  # fmt: skip
    assert code == 0
    assert table_value(out, "return mean").startswith("10 ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--step-timeout", "0"], "argument --step-timeout: must be a number of seconds > 0, "
         "got '0'"),
        (["--step-timeout", "inf"], "must be a number of seconds > 0, got 'inf'"),
        (["--step-timeout", "1", "--vectorization", "sync"], "--step-timeout must go with "
         "--vectorization auto, async or batched (sub-envs in worker processes; a sub-env in "
         "this process cannot be stopped), got --vectorization sync"),
    ],
)  # fmt: skip
def test_bad_step_timeouts_are_refused(capsys, argv, message):
    code, out, err = run(capsys, "sample", "CartPole-v1", *argv)
    assert code == 2
    assert out == ""
    assert message in err


@pytest.mark.parametrize(
    ("policy", "kind"),
    [
        ("random", "the built-in random policy"),
        ("idle", "the built-in idle policy"),
        ("balance", "the built-in balance policy"),
        (":push_right", "a callable on observations"),
        (":Net", "a torch module, Net"),
        (":idle_policy", "a gymsamp policy, IdlePolicy"),
        ("net.pt", "a TorchScript module"),
    ],
)
def test_stochastic_is_refused_where_it_changes_nothing(capsys, policy_file, policy, kind):
    # It was accepted and ignored: the run was the deterministic one.
    text = f"{policy_file}{policy}" if policy.startswith(":") else policy
    if policy == "net.pt":
        import torch

        text = str(policy_file.parent / policy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
            torch.jit.script(torch.nn.Linear(4, 1)).save(text)
    code, out, err = run(capsys, "sample", "CartPole-v1", "--policy", text, "--stochastic")
    assert code == 2
    assert out == ""
    assert err == (
        "gymsamp: error: --stochastic must go with an SB3 model (--policy sb3:ALGO:PATH, or "
        f"module:attr giving one), got --policy {text} ({kind}, which acts the same without "
        "it)\n"
    )


@pytest.fixture(scope="module")
def sb3_models(tmp_path_factory):
    from stable_baselines3 import PPO

    folder = tmp_path_factory.mktemp("sb3")
    for env_id in ("CartPole-v1", "Pendulum-v1"):
        PPO("MlpPolicy", env_id, n_steps=64, batch_size=64, device="cpu", seed=0).save(
            folder / f"{env_id}.zip"
        )
    (folder / "models.py").write_text(
        "from stable_baselines3 import PPO\n"
        f"def cartpole(spec):\n    return PPO.load({str(folder / 'CartPole-v1.zip')!r})\n"
    )
    return folder


@pytest.mark.slow
def test_sb3_models_are_checked_against_the_envs_spaces(capsys, sb3_models):
    # It failed mid-run inside SB3: "Unexpected observation shape (1, 3) for Box environment".
    pendulum = f"sb3:PPO:{sb3_models / 'Pendulum-v1.zip'}"
    code, out, err = run(capsys, "sample", "CartPole-v1", "--policy", pendulum)
    assert code == 1
    assert out == ""
    assert err == (
        f"gymsamp: error: --policy {pendulum!r} must be made for the env's observations "
        "Box(shape=(4,), dtype=float32), got a model for observations Box(shape=(3,), "
        "dtype=float32) (trained on another env?)\n"
    )
    factory = f"{sb3_models / 'models.py'}:cartpole"  # a model from module:attr: checked too
    code, _, err = run(capsys, "sample", "Pendulum-v1", "--policy", factory)
    assert code == 1
    assert "must be made for the env's observations Box(shape=(3,)" in err
    code, _, err = run(
        capsys, "sample", "MountainCar-v0", "--policy", f"sb3:PPO:{sb3_models / 'CartPole-v1.zip'}"
    )
    assert code == 1
    assert "got a model for observations Box(shape=(4,), dtype=float32)" in err


@pytest.mark.slow
def test_stochastic_is_kept_for_sb3_models_also_from_module_attr(capsys, sb3_models):
    zip_policy = f"sb3:PPO:{sb3_models / 'CartPole-v1.zip'}"
    factory = f"{sb3_models / 'models.py'}:cartpole"
    for policy, name in ((zip_policy, "PPO from"), (factory, factory)):
        for flags, mode in (([], "deterministic"), (["--stochastic"], "stochastic")):
            code, out, err = run(
                capsys, "sample", "CartPole-v1", "--policy", policy, *flags, "--min-rollouts", 2,
                "--num-workers", 1, "--seed", 0, "--max-steps", 20,
            )  # fmt: skip
            assert code == 0, err
            assert f"policy {name}" in out.splitlines()[0]
            assert f"({mode})" in out.splitlines()[0]


UNSAVABLE_ENV = """
import gymnasium as gym
import numpy as np


class Tagged(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, every_step=False):
        self.every_step = every_step

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 3
        info = {"tags": {"a"}} if done or self.every_step else {}
        return np.zeros(1, np.float32), 1.0, done, False, info


gym.register("TaggedCli-v0", entry_point=Tagged, max_episode_steps=10)
"""


def test_an_env_info_that_cannot_be_saved_is_named_for_a_shell_user(capsys, tmp_path, monkeypatch):
    # It was "TypeError: rollouts[0].rollout_info[0].final_info.tags has type set, which
    # gymsamp cannot save", and the summary of the run was lost.
    (tmp_path / "gymsamp_cli_tagged_env.py").write_text(UNSAVABLE_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = "gymsamp_cli_tagged_env:TaggedCli-v0"
    out_file = tmp_path / "t.npz"
    cases = [
        ("False", "the env's info 'tags' at the last step of rollout 0"),
        ("True", "the env's info 'tags' of rollout 0 at step 0"),
    ]
    for every_step, where in cases:
        code, out, err = run(
            capsys, "sample", env, "--env-kwarg", f"every_step={every_step}", "--min-rollouts",
            2, "--num-workers", 1, "--seed", 0, "--out", out_file,
        )  # fmt: skip
        assert code == 1
        assert table_value(out, "rollouts") == "2"  # the summary is still printed
        assert "wrote" not in out
        assert err == (
            f"gymsamp: error: --out {out_file}: cannot save the rollouts: {where} has type set "
            "(a file holds numbers, strings, arrays, lists, tuples and dicts of them); report "
            "it as one of those, e.g. a list or a string, or sample without --out\n"
        )
        assert list(tmp_path.glob("t.npz*")) == []  # no file, no temporary left


@pytest.mark.parametrize(
    ("error", "told"),
    [
        # Not a value the encoder placed: told as it is.
        (
            "path must be a str or an os.PathLike, got int",
            "path must be a str or an os.PathLike, got int",
        ),
        (
            "rollouts[2].rollout_info[0].tags has type set, which gymsamp cannot save",
            "the rollout_info 'tags' of rollout 2 has type set",
        ),
        (
            "rollouts[0].data.observations must not be an object array (it cannot be saved safely)",
            "the field 'observations' of rollout 0 must not be an object array (it cannot be "
            "saved safely)",
        ),
    ],
    ids=["other", "rollout_info", "field"],
)
def test_save_errors_outside_the_infos_name_the_rollout_info_or_field(error, told):
    from gymsamp._cli_outputs import unsavable

    text = unsavable(TypeError(error))
    assert text.startswith(told)
    assert ("report it as one of those" in text) == (told != error)


# ----------------------------------------------------------------------------------------------
# Options that reach the sampler and the figure
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_the_vectorization_asked_for_is_the_one_used(capsys, vectorization):
    # --vectorization was only checked for being accepted: any mode ran as "auto" would pass.
    code, out, err = run(
        capsys, "sample", "gymsamp/Counting-v0", "--env-kwarg", "terminate_at=4",
        "--vectorization", vectorization, "--num-workers", 2, "--min-rollouts", 2, "--seed", 0,
        "--max-steps", 10,
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0].endswith(f", seed 0, 2 workers ({vectorization})")
    assert table_value(out, "return mean").startswith("10 ")


def test_a_fixed_domain_param_alone_is_set_in_every_rollout(capsys, tmp_path):
    # Without --randomize or --grid beside it, --domain-param must still reach the env.
    out_file = tmp_path / "fixed.npz"
    code, out, err = run(
        capsys, "sample", "CartPole-v1", "--domain-param", "length=0.25", "--min-rollouts", 3,
        "--max-steps", 5, "--seed", 0, "--num-workers", 1, "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    params = [ro.rollout_info["domain_param"] for ro in load_rollouts(out_file)]
    assert [p["length"] for p in params] == [0.25] * 3
    assert all(p["masspole"] == 0.1 for p in params)  # the others stay nominal
    assert re.search(r"\n  length +0\.5 +fixed +0\.25\n", out), out


@pytest.fixture
def drawn(monkeypatch):
    """The figures the command saves, in order (save_figure still writes them)."""
    pytest.importorskip("matplotlib")
    import gymsamp.plot

    figures = []
    save = gymsamp.plot.save_figure

    def recording(fig, path, **kwargs):
        figures.append(fig)
        return save(fig, path, **kwargs)

    monkeypatch.setattr(gymsamp.plot, "save_figure", recording)
    return figures


def legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_plot_draws_as_many_rollouts_as_asked(capsys, saved, tmp_path, drawn):
    for extra, shown in (([], 4), (["--num-rollouts", 2], 2)):  # the documented default: 4
        code, _, err = run(
            capsys, "plot", saved, "-o", tmp_path / "t.png", "--kind", "trajectories", *extra
        )
        assert code == 0, err
        fig = drawn.pop()
        assert fig.get_suptitle().endswith(f", {shown} of 10 rollouts (worst to best return)")
        assert len(fig.axes[0].get_lines()) == shown  # the first observation's panel


def test_plot_cvar_reaches_the_return_plot(capsys, saved, tmp_path, drawn):
    returns = np.sort([ro.undiscounted_return() for ro in load_rollouts(saved)])
    for kind in ("returns", "all"):
        code, _, err = run(
            capsys, "plot", saved, "-o", tmp_path / "r.png", "--kind", kind, "--cvar", 0.3
        )
        assert code == 0, err
        returns_plot = drawn.pop().axes[0].figure  # the figure, or the subfigure of "all"
        cvar = f"worst 30% (3 rollouts), CVaR = {fmt(returns[:3].mean())}"
        assert cvar in legend_texts(returns_plot)


def test_sample_plot_draws_the_cvar_asked_for(capsys, tmp_path, drawn):
    code, _, err = run(
        capsys, "sample", *COUNTING, "--max-steps", 3, "--min-rollouts", 10, "--seed", 0,
        "--cvar", 0.2, "--plot", tmp_path / "s.png", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    (fig,) = drawn
    assert "worst 20% (2 rollouts), CVaR = 6" in legend_texts(fig.axes[0].figure)


def test_plot_states_draws_the_recorded_states(capsys, tmp_path, drawn):
    out_file = tmp_path / "st.npz"
    code, _, err = run(
        capsys, "sample", "Pendulum-v1", "--record-states", "--min-rollouts", 2, "--max-steps", 4,
        "--seed", 0, "--num-workers", 1, "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    rollouts = load_rollouts(out_file)
    code, _, err = run(
        capsys, "plot", out_file, "-o", tmp_path / "s.png", "--kind", "trajectories", "--states"
    )
    assert code == 0, err
    (fig,) = drawn
    assert [ax.get_title() for ax in fig.axes] == [
        "state theta",
        "state theta_dot",
        "action torque",
    ]
    # The worst rollout is drawn first: its theta_dot over its 5 times (0.05 s apart).
    worst = min(rollouts, key=lambda ro: ro.undiscounted_return())
    np.testing.assert_allclose(
        fig.axes[1].get_lines()[0].get_xydata(), np.c_[worst.time, worst.states[:, 1]]
    )
    np.testing.assert_allclose(worst.time, 0.05 * np.arange(5))


def test_plot_grid_draws_both_parameters_with_their_nominal_values(capsys, tmp_path, drawn):
    out_file = tmp_path / "g2.npz"
    code, _, err = run(
        capsys, "sample", "CartPole-v1", "--policy", "balance", "--grid", "length=0.1,0.5",
        "--grid", "masspole=0.2,0.3", "--max-steps", 20, "--seed", 0, "--num-workers", 1,
        "--out", out_file, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "plot", out_file, "-o", tmp_path / "g.png", "--kind", "grid")
    assert code == 0, err
    (fig,) = drawn
    heatmap = fig.axes[0]
    assert (heatmap.get_xlabel(), heatmap.get_ylabel()) == (
        "length (nominal 0.5)",
        "masspole (nominal 0.1)",
    )
    assert heatmap.images[0].get_array().shape == (2, 2)


# An --env-kwarg literal that cannot be built ended in a bare "TypeError: unhashable type"
# (exit 1) or a MemoryError from the parser; a repeated key silently kept its last value.
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            ["render_mode={[]: 1}"],
            "--env-kwarg render_mode value must be a Python literal or a plain string, got "
            "'{[]: 1}' (TypeError: unhashable type: 'list')",
        ),
        (
            ["render_mode=" + "-" * 100_000 + "1"],
            "--env-kwarg render_mode value must be a Python literal or a plain string, got '---",
        ),
        (
            ["sutton_barto_reward=True", "sutton_barto_reward = False"],
            "--env-kwarg must set each key once, got 'sutton_barto_reward' twice: "
            "'sutton_barto_reward=True' and 'sutton_barto_reward = False'",
        ),
    ],
)
def test_env_kwargs_that_are_no_value_or_set_twice_are_refused(capsys, kwargs, message):
    argv = ["params", "CartPole-v1"]
    for text in kwargs:
        argv += ["--env-kwarg", text]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gymsamp: error: {message}")


# An empty --init-state ran from the env's own random initial states, silently.
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_init_state_is_refused(capsys, value):
    code, out, err = run(capsys, "sample", "CartPole-v1", f"--init-state={value}")
    assert (code, out) == (2, "")
    assert err == "gymsamp: error: --init-state values must be a number, got ''\n"


# A huge NUM ended in a bare MemoryError (or a long hang), a span beyond float64's range in
# "got nan" from the env's check (or a nan grid point where nothing checks), and NUM 1 silently
# dropped STOP.
@pytest.mark.parametrize(
    ("grids", "message"),
    [
        (
            ["length=0.1:1:100000000000"],
            "--grid length: NUM must be an int from 1 to 100000, got '100000000000'",
        ),
        (
            ["length=1e308:-1e308:3"],
            "--grid length: START:STOP:NUM must give finite values, got '1e308:-1e308:3' "
            "(STOP - START is beyond float64's range)",
        ),
        (
            ["length=0.1:1:1"],
            "--grid length: NUM 1 must go with START equal to STOP (one value), got '0.1:1:1'; "
            "write NUM >= 2 for both ends",
        ),
        (
            ["length=0.1:1:1000", "tau=0.01:0.02:101"],
            "--grid must have at most 100000 points, got 1000 x 101 = 101000",
        ),
    ],
)
def test_grid_ranges_that_cannot_be_sampled_are_refused(capsys, grids, message):
    argv = ["sample", "CartPole-v1"]
    for text in grids:
        argv += ["--grid", text]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == f"gymsamp: error: {message}\n"


def test_a_one_value_grid_range_with_start_equal_to_stop_is_one_point(capsys):
    code, out, err = run(
        capsys, "sample", "CartPole-v1", "--grid", "length=0.25:0.25:1", "--num-workers", "1",
        "--vectorization", "sync", "--seed", "0", "--quiet",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "at least 1 rollout," in out


# Python's int() and float() read 1_000 and other scripts' digits (Arabic-Indic 1 is 1): these
# ran a different run than the (typo'd or pasted) text showed.
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--min-rollouts", "1_0"], "argument --min-rollouts: must be an int >= 1 (ASCII digits"),
        (["--seed", "\u0661"], "argument --seed: must be an int >= 0 (ASCII digits"),
        (["--step-timeout", "1_0"], "argument --step-timeout: must be a number of seconds > 0 ("),
        (["--cvar", "0.\uff11"], "argument --cvar: must be a number in (0, 1] (ASCII digits"),
        (["--domain-param", "length=0_5"], "--domain-param length must be a number (ASCII"),
        (["--init-state=0,0,\u0660,0"], "--init-state values must be a number (ASCII digits"),
        (["--grid", "length=0.1:1:1_0"], "--grid length: NUM must be an int from 1 to 100000 ("),
        (["--randomize", "length=uniform:0.5,0_1"], "--randomize length parameters must be a"),
    ],
)
def test_numbers_must_be_plain_ascii_digits(capsys, option, message):
    code, out, err = run(capsys, "sample", "CartPole-v1", *option)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gymsamp: error: {message}")
    assert "(ASCII digits, without underscores), got " in err
