"""gymsamp.plot: every plot renders to a valid PNG with the Agg backend and is labelled."""

from __future__ import annotations

import dataclasses
import itertools
import re
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.colors import to_rgba

from gymsamp.cli import balance
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs import (
    DomainRandomizer,
    DomainRandWrapper,
    UniformDomainParam,
    adapter_for,
    param_grid,
)
from gymsamp.plot import (
    flat_values,
    grid_param_names,
    plot_return_grid,
    plot_returns,
    plot_rollouts,
    plot_trajectories,
    save_figure,
)
from gymsamp.policies import IdlePolicy, LinearPolicy
from gymsamp.sampling import ParallelRolloutSampler, eval_domain_params
from gymsamp.summary import format_number, summarize
from tests.helpers import DictPendulum

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    from matplotlib.image import imread

    height, width, _ = imread(path).shape
    assert width >= 500
    assert height >= 300


def legend_texts(ax):
    """The texts of the legend of ``ax``, or of the (sub)figure it is in."""
    (legend,) = [*ax.figure.legends, *filter(None, [ax.get_legend()])]
    return [t.get_text() for t in legend.get_texts()]


def cartpole_spec():
    env = gym.make("CartPole-v1")
    adapter = adapter_for(env)
    spec = EnvSpec.from_env(env)
    return dataclasses.replace(
        spec, obs_labels=adapter.obs_labels, state_labels=adapter.state_labels
    )


def randomized_cartpole():
    randomizer = DomainRandomizer(UniformDomainParam("length", mean=0.5, halfspan=0.45))
    return DomainRandWrapper(gym.make("CartPole-v1"), randomizer)


@pytest.fixture(scope="module")
def cartpole_rollouts():
    with ParallelRolloutSampler(
        randomized_cartpole, balance, 2, min_rollouts=20, seed=0, show_progress_bar=False,
        vectorization="sync", record_states=True,
    ) as sampler:  # fmt: skip
        return sampler.sample()


@pytest.fixture(scope="module")
def grid_rollouts():
    grid = param_grid({"length": [0.05, 0.1, 0.5], "masspole": [0.1, 0.5]})
    return eval_domain_params(2, "CartPole-v1", balance, grid, seed=0)


def test_return_distribution(cartpole_rollouts, tmp_path):
    fig = plot_returns(cartpole_rollouts, epsilon=0.2)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "return (undiscounted sum of rewards)"
    assert ax.get_ylabel() == "rollouts"
    assert ax.get_title() == "Return distribution: CartPole-v1, 20 rollouts"
    s = summarize(cartpole_rollouts, epsilon=0.2)
    texts = legend_texts(ax)
    assert f"mean = {format_number(s.mean)}" in texts
    ci = f"95% CI of the mean [{format_number(s.ci_low)}, {format_number(s.ci_high)}]"
    assert ci in texts
    assert f"worst 20% (4 rollouts), CVaR = {format_number(s.cvar)}" in texts
    # The histogram holds every rollout, the red part exactly the CVaR tail.
    rest, tail = ax.containers  # the stacked histogram: other rollouts, then the tail
    assert sum(bar.get_height() for bar in rest) == 16
    assert sum(bar.get_height() for bar in tail) == 4
    assert tail.patches[0].get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-3)
    path = save_figure(fig, tmp_path / "sub" / "returns.png")
    assert path == tmp_path / "sub" / "returns.png"
    assert_png(path)


@pytest.mark.parametrize("returns", [[5.0], [3.0, 3.0, 3.0]])
def test_return_distribution_degenerate(returns, tmp_path):
    rollouts = [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0]) for r in returns]
    fig = plot_returns(rollouts)
    texts = legend_texts(fig.axes[0])
    assert texts[-1].startswith("CVaR 10%: n/a")
    assert_png(save_figure(fig, tmp_path / "r.png"), min_bytes=5_000)


def test_infinite_returns_are_counted_not_binned(tmp_path):
    # np.histogram refused the infinity ("autodetected range of [-inf, 6.0] is not finite"), and
    # `gymsamp sample --plot` failed after sampling.
    returns = [1.0, -np.inf, 3.0, 2.0, 5.0, 6.0, 2.0, -np.inf, 4.0, 3.0]
    rollouts = [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0]) for r in returns]
    fig = plot_returns(rollouts, epsilon=0.3)
    (ax,) = fig.axes
    rest, tail = ax.containers
    # The worst 3 are -inf, -inf and 1: the tail's one finite return is red, 7 others blue.
    assert sum(bar.get_height() for bar in tail) == 1
    assert sum(bar.get_height() for bar in rest) == 7
    texts = legend_texts(ax)
    assert "2 returns of -inf not in the histogram" in texts
    assert "mean = -inf" in texts
    assert "worst 30% (3 rollouts), CVaR = -inf" in texts
    assert not any(t.startswith("95% CI") for t in texts)  # no interval with an infinity
    assert all(np.isfinite(line.get_xdata()).all() for line in ax.lines)
    assert_png(save_figure(fig, tmp_path / "inf.png"), min_bytes=5_000)
    only_inf = [StepSequence(rewards=[-np.inf], observations=[0.0, 0.0], actions=[0])] * 2
    assert "2 returns of -inf not in the histogram" in legend_texts(plot_returns(only_inf).axes[0])
    with_nan = [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0]) for r in returns]
    with_nan[0].rewards[0] = np.nan
    texts = legend_texts(plot_returns(with_nan).axes[0])
    assert "3 returns of -inf, NaN not in the histogram" in texts  # NaN was written "n/a"


def test_trajectories_have_labels_and_units(cartpole_rollouts, tmp_path):
    fig = plot_trajectories(cartpole_rollouts, env_spec=cartpole_spec(), num_rollouts=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:5] == [
        "observation x",
        "observation x_dot",
        "observation theta",
        "observation theta_dot",
        "action",
    ]
    ylabels = [ax.get_ylabel() for ax in fig.axes[:5]]
    assert ylabels == ["x [m]", "x_dot [m/s]", "theta [rad]", "theta_dot [rad/s]", "rollout"]
    assert "time [s]" in [ax.get_xlabel() for ax in fig.axes]
    # Discrete actions: one lane per rollout, the colorbar names the actions.
    colorbar = fig.axes[5]
    assert [t.get_text() for t in colorbar.get_yticklabels()] == ["push left", "push right"]
    assert len(fig.axes[4].get_yticklabels()) == 3
    assert "3 of 20 rollouts (worst to best return)" in fig.get_suptitle()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    returns = sorted(ro.undiscounted_return() for ro in cartpole_rollouts)
    assert legend[0].endswith(f"return {format_number(returns[0])}, {int(returns[0])} steps")
    assert_png(save_figure(fig, tmp_path / "traj.png"))


def test_trajectories_of_states_and_continuous_actions(tmp_path, cartpole_rollouts):
    fig = plot_trajectories(cartpole_rollouts, field="states", env_spec=cartpole_spec())
    assert fig.axes[0].get_title() == "state x"
    # Numbered: "state[0]" (it was "state sta[0]"; actions "action action[0]").
    fig = plot_trajectories(cartpole_rollouts, field="states")
    assert [ax.get_title() for ax in fig.axes[:4]] == [f"state[{i}]" for i in range(4)]
    with ParallelRolloutSampler(
        "Pendulum-v1", IdlePolicy(gym.spaces.Box(-2.0, 2.0, (1,))), 1, min_rollouts=2, seed=0,
        show_progress_bar=False, max_steps=20,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    fig = plot_trajectories(rollouts, act_labels=["torque"], labels=["cos", "sin", "theta_dot"])
    assert [ax.get_title() for ax in fig.axes] == [
        "observation cos",
        "observation sin",
        "observation theta_dot",
        "action torque",
    ]
    assert fig.axes[3].get_ylabel() == "torque [N·m]"
    assert fig.axes[2].get_ylabel() == "theta_dot [rad/s]"
    assert_png(save_figure(fig, tmp_path / "pendulum.png"))


def test_trajectories_without_spec_or_time_and_many_dimensions(tmp_path):
    rollouts = [
        StepSequence(rewards=np.ones(5), observations=np.zeros((6, 60)), actions=np.zeros((5, 2)))
    ]
    fig = plot_trajectories(rollouts)
    titles = [ax.get_title() for ax in fig.axes]
    # The actions keep their panels: the observations' last dimensions are what is left out.
    assert titles == [
        *(f"obs[{i}]" for i in range(46)),
        "action[0]",
        "action[1]",
    ]
    assert fig.get_suptitle().endswith("(first 46 of 60 observation dimensions shown)")
    assert fig.axes[-1].get_xlabel() == "step"
    with pytest.raises(ValueError, match="no 'states' field"):
        plot_trajectories(rollouts, field="states")
    with pytest.raises(ValueError, match="field must be"):
        plot_trajectories(rollouts, field="rewards")
    with pytest.raises(ValueError, match="num_rollouts must be an int >= 1"):
        plot_trajectories(rollouts, num_rollouts=0)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        # T step times only (a rollout built outside the samplers): the final observation
        # one interval after the last step.
        (np.arange(4) * 0.02, np.arange(5) * 0.02),
        (np.arange(5) * 0.02, np.arange(5) * 0.02),  # T + 1 entries, as the samplers record
    ],
)
def test_trajectories_over_a_time_field_of_t_or_t_plus_one_entries(tmp_path, times, expected):
    ro = StepSequence(
        rewards=np.ones(4),
        observations=np.arange(10.0).reshape(5, 2),
        actions=np.linspace(-1, 1, 8).reshape(4, 2),
        time=times,
    )
    fig = plot_trajectories([ro])
    obs_line, action_line = fig.axes[0].lines[0], fig.axes[2].lines[0]
    np.testing.assert_allclose(obs_line.get_xdata(), expected)
    np.testing.assert_array_equal(obs_line.get_ydata(), [0, 2, 4, 6, 8])
    # Action t holds from time t to t + 1, the last one up to the final observation's time.
    np.testing.assert_allclose(action_line.get_xdata(), expected)
    assert fig.axes[-1].get_xlabel() == "time [s]"
    assert_png(save_figure(fig, tmp_path / "timed.png"))


def test_trajectories_over_the_step_times_of_a_one_step_rollout():
    def one_step(time):
        return StepSequence(
            rewards=np.ones(1), observations=np.zeros((2, 1)), actions=np.zeros((1, 1)), time=time
        )

    fig = plot_trajectories([one_step([3.0])])  # no interval known: one step
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [3.0, 4.0])
    # Beside rollouts whose time fields show the interval, it takes theirs, and the axis is
    # in seconds even where the one-step rollout comes first.
    longer = StepSequence(
        rewards=np.ones(3),
        observations=np.zeros((4, 1)),
        actions=np.zeros((3, 1)),
        time=[0.0, 0.05, 0.1, 0.15],
    )
    fig = plot_trajectories([one_step([0.0]), longer])
    lines = {len(line.get_xdata()): line.get_xdata() for line in fig.axes[0].lines}
    np.testing.assert_allclose(lines[2], [0.0, 0.05])
    np.testing.assert_allclose(lines[4], [0.0, 0.05, 0.1, 0.15])
    assert fig.axes[0].get_xlabel() == "time [s]"


def test_trajectories_of_image_observations_keep_the_action_panel(tmp_path):
    rng = np.random.default_rng(0)
    rollouts = [
        StepSequence(
            rewards=rng.random(5),
            observations=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8),
            actions=rng.integers(0, 2, 5),
        )
        for _ in range(3)
    ]
    fig = plot_trajectories(rollouts)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [*(f"obs[{i}]" for i in range(47)), "action"]
    assert fig.axes[46].get_ylabel() == "obs[46]"
    assert [t.get_text() for t in fig.axes[47].get_yticklabels()] == ["#0", "#1", "#2"]
    assert fig.get_suptitle() == (
        "Observations and actions over time: rollouts, 3 of 3 rollouts (worst to best return) "
        "(first 47 of 192 observation dimensions shown)"
    )
    assert_png(save_figure(fig, tmp_path / "image.png"))


@pytest.mark.parametrize(
    ("obs_dim", "act_dim", "shown", "note"),
    [
        (2, 60, (2, 46), "(first 46 of 60 action dimensions shown)"),
        (
            30,
            30,
            (24, 24),
            "(first 24 of 30 observation dimensions and first 24 of 30 action dimensions shown)",
        ),
        (20, 28, (20, 28), None),
    ],
)
def test_trajectories_share_the_panels_between_observations_and_actions(
    obs_dim, act_dim, shown, note
):
    rollouts = [
        StepSequence(
            rewards=np.ones(3),
            observations=np.zeros((4, obs_dim)),
            actions=np.zeros((3, act_dim)),
        )
    ]
    fig = plot_trajectories(rollouts)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        *(f"obs[{i}]" for i in range(shown[0])),
        *(f"action[{i}]" for i in range(shown[1])),
    ]
    heading = fig.get_suptitle()
    assert heading.endswith(note) if note else heading.endswith("(worst to best return)")


def test_trajectories_of_dict_observations_plot_each_array_by_its_path(tmp_path):
    """A Dict observation (Pendulum split into angle and speed): one panel per dimension of
    each array, titled by its path, with the array's values over time."""

    policy = IdlePolicy(gym.spaces.Box(-2.0, 2.0, (1,)))
    with ParallelRolloutSampler(
        DictPendulum, policy, 1, min_rollouts=1, seed=0, show_progress_bar=False, max_steps=20
    ) as sampler:
        (ro,) = sampler.sample()
    # Labels of a flat observation (e.g. the simulator's, under the wrapper that made it a
    # Dict) do not name the Dict's arrays: their paths win.
    spec = dataclasses.replace(EnvSpec.from_env(DictPendulum()), obs_labels=("c", "s", "w"))
    fig = plot_trajectories([ro], env_spec=spec)
    assert [ax.get_title() for ax in fig.axes] == [
        "observation angle[0]",
        "observation angle[1]",
        "observation speed",
        "action",
    ]
    (line,) = fig.axes[2].get_lines()
    np.testing.assert_array_equal(line.get_ydata(), ro.observations["speed"][:, 0])
    assert_png(save_figure(fig, tmp_path / "dict_pendulum.png"))


@pytest.mark.parametrize("values", [{}, (), {"a": {}}, {"a": ()}])
def test_flat_values_of_a_field_without_arrays_is_refused_by_name(values):
    # Without the check, np.concatenate([]) would fail with a message naming no field.
    with pytest.raises(
        ValueError, match="observations must hold at least one array, got an empty field"
    ):
        flat_values(values, "observations")
    # With arrays, each leaf's dimensions side by side in the field's order.
    flat = flat_values({"a": np.arange(4.0).reshape(2, 2), "b": (np.array([7, 8]),)}, "x")
    assert flat.tolist() == [[0.0, 1.0, 7.0], [2.0, 3.0, 8.0]]


def test_return_grid_heatmap(grid_rollouts, tmp_path):
    assert grid_param_names(grid_rollouts) == ["masspole", "length"]  # the env's order
    fig = plot_return_grid(grid_rollouts, "length", "masspole", nominal={"length": 0.5})
    ax, colorbar = fig.axes
    assert ax.get_xlabel() == "length (nominal 0.5)"
    assert ax.get_ylabel() == "masspole"
    assert colorbar.get_ylabel() == "mean return"
    assert ax.get_title() == (
        "Mean return over length and masspole: CartPole-v1 (1 rollout per cell)"
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "0.1", "0.5"]
    # Each cell is annotated with the return of its grid point.
    expected = {
        (ro.rollout_info["domain_param"]["length"], ro.rollout_info["domain_param"]["masspole"]):
        ro.undiscounted_return() for ro in grid_rollouts
    }  # fmt: skip
    cells = {(t.get_position(), t.get_text()) for t in ax.texts}
    xs, ys = [0.05, 0.1, 0.5], [0.1, 0.5]
    assert cells == {
        ((xs.index(x), ys.index(y)), format_number(r)) for (x, y), r in expected.items()
    }
    assert_png(save_figure(fig, tmp_path / "grid.png"))


def test_return_grid_one_parameter_and_errors(tmp_path):
    grid = param_grid({"length": [0.05, 0.5, 1.0]}) * 2
    rollouts = eval_domain_params(1, "CartPole-v1", balance, grid, seed=0)
    assert grid_param_names(rollouts) == ["length"]
    fig = plot_return_grid(rollouts)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "length"
    assert ax.get_ylabel() == "return"
    assert legend_texts(ax) == ["min .. max", "mean return"]
    assert_png(save_figure(fig, tmp_path / "line.png"))
    with pytest.raises(ValueError, match="got 'mass'"):
        plot_return_grid(rollouts, "mass")


def test_one_parameter_grid_marks_points_whose_mean_is_not_finite():
    # They vanished silently, with the whole min..max band.
    returns = {1.0: [5.0, 6.0], 2.0: [7.0, -np.inf], 3.0: [8.0, 9.0], 4.0: [np.nan, 1.0]}
    rollouts = [
        StepSequence(
            rewards=[r], observations=[0.0, 0.0], actions=[0],
            rollout_info={"domain_param": {"m": m}},
        )
        for m, rs in returns.items()
        for r in rs
    ]  # fmt: skip
    ax = plot_return_grid(rollouts, "m").axes[0]
    assert legend_texts(ax) == ["min .. max", "mean return", "mean return not finite"]
    mean_line, marks = ax.get_lines()
    np.testing.assert_array_equal(mean_line.get_ydata(), [5.5, np.nan, 8.5, np.nan])
    assert marks.get_xdata().tolist() == [2.0, 4.0]
    (ranges,) = ax.collections[1:]  # each finite point's own min..max
    segments = [segment.tolist() for segment in ranges.get_segments()]
    assert segments == [[[1.0, 5.0], [1.0, 6.0]], [[3.0, 8.0], [3.0, 9.0]]]


def test_heatmap_ticks_outside_the_cells_have_no_label(grid_rollouts):
    # An interactive cursor's readout asked for positions off the grid: IndexError, or the last
    # value for -1.
    ax = plot_return_grid(grid_rollouts, "length", "masspole").axes[0]
    formatter = ax.xaxis.get_major_formatter()
    assert [formatter(x, 0) for x in (-1.0, 0.0, 2.0, 3.0, 3.5)] == ["", "0.05", "0.5", "", ""]


def test_return_grid_y_name_alone_is_refused_by_name(grid_rollouts):
    # A bare AssertionError (KeyError: None under python -O).
    with pytest.raises(
        ValueError,
        match=r"x_name must name the parameter on the x axis when y_name is given, got "
        r"x_name=None with y_name='masspole'",
    ):
        plot_return_grid(grid_rollouts, y_name="masspole")


@pytest.mark.parametrize(
    ("labels", "act_labels", "message"),
    [
        (["x"], None, r"labels must hold one label per dimension of the observations \(4\), got 1"),
        (list("abcdef"), None, r"labels .*observations \(4\), got 6: \['a', 'b'"),
        (None, ["left", "right"], r"act_labels .*the actions \(1\), got 2"),
    ],
)
def test_trajectory_labels_of_another_length_are_refused(
    cartpole_rollouts, labels, act_labels, message
):
    # They were dropped silently for numbered names (or, for one action, the first kept).
    with pytest.raises(ValueError, match=message):
        plot_trajectories(cartpole_rollouts, labels=labels, act_labels=act_labels)
    fig = plot_trajectories(cartpole_rollouts, labels=list("abcd"), act_labels=["push"])
    assert [ax.get_title() for ax in fig.axes[:5]] == [
        "observation a", "observation b", "observation c", "observation d", "action push",
    ]  # fmt: skip


def test_randomized_parameters_are_not_a_grid(cartpole_rollouts):
    assert grid_param_names(cartpole_rollouts) == []
    with pytest.raises(ValueError, match="do not vary domain parameters on a grid"):
        plot_return_grid(cartpole_rollouts)


def test_all_plots_in_one_figure(cartpole_rollouts, grid_rollouts, tmp_path):
    fig = plot_rollouts(cartpole_rollouts, env_spec=cartpole_spec())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "Return distribution: CartPole-v1, 20 rollouts"
    assert "observation theta" in titles
    assert not any(title.startswith("Mean return over") for title in titles)
    assert_png(save_figure(fig, tmp_path / "all.png"), min_bytes=50_000)

    fig = plot_rollouts(grid_rollouts, env_spec=cartpole_spec())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1].startswith("Mean return over masspole and length")
    assert_png(save_figure(fig, tmp_path / "all_grid.png"), min_bytes=50_000)


def test_plotting_never_touches_pyplot(tmp_path):
    code = (
        "import sys, gymsamp.plot as p\n"
        "from gymsamp.data import StepSequence\n"
        "ros = [StepSequence(rewards=[r], observations=[[0.0], [1.0]], actions=[0])"
        " for r in (1.0, 2.0)]\n"
        f"p.save_figure(p.plot_rollouts(ros), {str(tmp_path / 'x.png')!r})\n"
        "import matplotlib\n"
        "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"MPLBACKEND": "Agg", "PATH": ""},
    )
    assert done.stdout.split()[0] == "False"
    assert (tmp_path / "x.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_rollouts_refuses_a_missing_or_unknown_field_like_plot_trajectories():
    rollouts = [
        StepSequence(rewards=np.ones(3), observations=np.zeros((4, 2)), actions=np.zeros((3, 1)))
    ]
    with pytest.raises(ValueError, match="the rollouts have no 'states' field"):
        plot_rollouts(rollouts, field="states")
    with pytest.raises(ValueError, match="field must be 'observations' or 'states', got 'x'"):
        plot_rollouts(rollouts, field="x")
    with pytest.raises(ValueError, match="rollouts must hold at least one rollout, got none"):
        plot_rollouts([])


def test_trajectories_of_several_envs_or_widths_are_refused_by_name():
    # Rollouts of two envs failed deep in the drawing: "IndexError: index 1 is out of bounds".
    def ro(width, env_id=None):
        info = {"env_id": env_id} if env_id else {}
        return StepSequence(
            rewards=[1.0, 1.0], observations=[[0.0] * width] * 3, actions=[0, 1],
            rollout_info=info,
        )  # fmt: skip

    mixed = [ro(1, "A-v0"), ro(4, "B-v0"), ro(1, "A-v0")]
    for plot in (plot_trajectories, plot_rollouts):
        with pytest.raises(
            ValueError, match=r"got 2 envs: A-v0 \(2 rollouts\), B-v0 \(1 rollout\)"
        ):
            plot(mixed)
    with pytest.raises(ValueError, match="observations of one width to be plotted together, got "
                       "1 in rollout 0 and 4 in rollout 1"):  # fmt: skip
        plot_trajectories([ro(1), ro(4)])
    fig = plot_returns(mixed)  # the returns of all of them: the title names each env
    assert fig.axes[0].get_title() == "Return distribution: mixed: A-v0 (2), B-v0 (1), 3 rollouts"


def test_an_interrupted_save_leaves_the_old_figure_whole(tmp_path, monkeypatch):
    # The SVG backend truncates the file before drawing: a Ctrl-C mid-draw left a broken SVG
    # (and destroyed the plot that was there).
    from matplotlib.figure import Figure

    fig = plot_returns(
        [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0]) for r in (1.0, 2.0)]
    )
    path = save_figure(fig, tmp_path / "returns.svg")
    before = path.read_bytes()
    assert before.lstrip().startswith(b"<?xml")

    def interrupted(self, fname, **kwargs):
        with open(fname, "w") as f:
            f.write("<svg")  # what a draw cut short leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_figure(fig, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["returns.svg"]


def test_one_rollout_is_named_in_the_singular():
    # "1 rollouts", "1 of 1 rollouts", "return 1, 1 steps".
    rollouts = [StepSequence(rewards=[1.0], observations=[[0.0], [1.0]], actions=[0])]
    fig = plot_rollouts(rollouts)
    assert fig.axes[0].get_title() == "Return distribution: rollouts, 1 rollout"
    trajectories = fig.subfigs[1]
    assert trajectories.get_suptitle() == (
        "Observations and actions over time: rollouts, 1 of 1 rollout (worst to best return)"
    )
    assert [t.get_text() for t in trajectories.legends[0].get_texts()] == [
        "rollout #0: return 1, 1 step"
    ]
    two = [StepSequence(rewards=[1.0] * 2, observations=[[0.0]] * 3, actions=[0] * 2)] * 2
    fig = plot_rollouts(two, num_rollouts=1)
    assert fig.axes[0].get_title() == "Return distribution: rollouts, 2 rollouts"
    assert "1 of 2 rollouts" in fig.subfigs[1].get_suptitle()
    assert fig.subfigs[1].legends[0].get_texts()[0].get_text().endswith("return 2, 2 steps")


@pytest.mark.parametrize("name", ["returns", "returns.tmp", "returns.", "returns.png.bak"])
def test_save_figure_refuses_a_path_whose_suffix_is_no_format(tmp_path, name):
    # Matplotlib was asked to guess the format from the temporary file's name: "Format 'tmp'
    # is not supported".
    fig = plot_returns([StepSequence(rewards=[1.0], observations=[0.0, 0.0], actions=[0])])
    path = tmp_path / name
    with pytest.raises(
        ValueError,
        match=r"path must end in the suffix of a format matplotlib writes \(.*\.eps, .*\.png, .*"
        rf"\.svg, .*\), got {re.escape(repr(str(path)))}",
    ):
        save_figure(fig, path)
    assert list(tmp_path.iterdir()) == []
    # Upper case is the format's suffix too.
    assert save_figure(fig, tmp_path / "r.PNG").read_bytes()[:8] == PNG_MAGIC


def test_save_figure_refuses_what_is_not_a_figure(tmp_path):
    # AttributeError: 'str' object has no attribute 'figure'.
    with pytest.raises(
        TypeError, match=r"fig must be a matplotlib Figure or SubFigure, got 'not a figure' \(str\)"
    ):
        save_figure("not a figure", tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_save_figure_writes_a_subfigure_with_its_figure(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    left, _ = fig.subfigures(1, 2)
    left.add_subplot().plot([1.0, 2.0])
    assert_png(save_figure(left, tmp_path / "sub.png"), min_bytes=1_000)


def two_by_two_grid():
    grid = param_grid({"mass": [1.0, 2.0], "length": [0.5, 1.0]})
    return [
        StepSequence(
            rewards=[float(i)], observations=[[0.0], [1.0]], actions=[0],
            rollout_info={"domain_param": p},
        )
        for i, p in enumerate(grid)
    ]  # fmt: skip


def test_a_grid_with_unevenly_filled_cells_gives_the_range_of_counts():
    rollouts = two_by_two_grid()
    fig = plot_return_grid([*rollouts, rollouts[0]], "mass", "length")
    assert fig.axes[0].get_title() == (
        "Mean return over mass and length: rollouts (1-2 rollouts per cell)"
    )


def test_a_grid_given_as_one_str_is_one_parameter():
    # grid="mass" was read as the parameters ['m', 'a', 's', 's'] (grid="m" as 'm', by accident).
    fig = plot_rollouts(two_by_two_grid(), grid="mass")
    assert fig.axes[1].get_title() == "Return over mass: rollouts"
    assert fig.axes[1].get_xlabel() == "mass"


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            ["mass", "mass"],
            r"grid must name 1 or 2 different parameters \(none: no grid\), got \['mass', 'mass'\]",
        ),
        (
            ["mass", "length", "x"],
            r"grid must name 1 or 2 different parameters \(none: no grid\), got \['mass', ",
        ),
    ],
)
def test_plot_rollouts_refuses_a_grid_of_other_than_one_or_two_names(grid, message):
    with pytest.raises(ValueError, match=message):
        plot_rollouts(two_by_two_grid(), grid=grid)
    # No name: no grid is drawn (none is looked for).
    assert len(plot_rollouts(two_by_two_grid(), grid=[]).subfigs[0].axes) == 1


def test_return_grid_refuses_one_parameter_on_both_axes():
    # It drew the grid's diagonal.
    with pytest.raises(
        ValueError, match="x_name and y_name must be different parameters, got 'mass' for both"
    ):
        plot_return_grid(two_by_two_grid(), "mass", "mass")


def test_return_grid_refuses_a_nominal_value_that_is_no_number():
    # numpy's "could not convert string to float: 'heavy'".
    with pytest.raises(TypeError, match=r"nominal\['mass'\] must be a real number, got 'heavy'"):
        plot_return_grid(two_by_two_grid(), "mass", "length", nominal={"mass": "heavy"})
    # The nominal values of parameters not on an axis are not read.
    fig = plot_return_grid(
        two_by_two_grid(), "mass", "length", nominal={"mass": np.float32(1.5), "x": "?"}
    )
    assert fig.axes[0].get_xlabel() == "mass (nominal 1.5)"


@pytest.mark.parametrize("plot", [plot_trajectories, plot_rollouts])
def test_an_env_spec_that_is_no_env_spec_is_refused_by_name(plot):
    # AttributeError: 'str' object has no attribute 'obs_labels'.
    with pytest.raises(
        TypeError,
        match=r"env_spec must be a gymsamp.data.EnvSpec or None, got 'CartPole-v1' \(str\)",
    ):
        plot(two_by_two_grid(), env_spec="CartPole-v1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": "x"}, r"labels must be a sequence of str, got 'x'"),
        ({"act_labels": "a"}, r"act_labels must be a sequence of str, got 'a'"),
        ({"labels": [0]}, r"labels must be a sequence of str, got \[0\]"),
    ],
)
def test_trajectory_labels_given_as_one_str_are_refused(kwargs, message):
    # A str was one label per character: "x" fit one observation dimension silently.
    with pytest.raises(TypeError, match=message):
        plot_trajectories(two_by_two_grid(), **kwargs)


def test_trajectory_labels_may_be_an_array_or_a_pandas_index():
    # Refused as "not a sequence of str" (e.g. df.columns) after the str check came in.
    import pandas as pd

    for labels, act_labels in [
        (np.array(["x", "v"]), np.array(["u"])),
        (pd.Index(["x", "v"]), pd.Index(["u"])),
    ]:
        ro = StepSequence(rewards=[1.0] * 2, observations=np.zeros((3, 2)), actions=[0, 1])
        fig = plot_trajectories([ro], labels=labels, act_labels=act_labels)
        titles = [ax.get_title() for ax in fig.axes[:3]]
        assert titles == ["observation x", "observation v", "action u"]


def test_rollouts_of_several_sample_calls_get_unique_names():
    # s.sample() + s.sample(): rollout_index restarts at 0, the legend read "#1, #0, #1, #0".
    def ro(index, length):
        return StepSequence(
            rewards=[1.0] * length, observations=[[0.0]] * (length + 1), actions=[0] * length,
            rollout_info={"rollout_index": index},
        )  # fmt: skip

    repeated = [ro(0, 3), ro(1, 5), ro(0, 4), ro(1, 6)]
    fig = plot_trajectories(repeated)
    names = [t.get_text().split(":")[0] for t in fig.legends[0].get_texts()]
    assert names == ["rollout #0", "rollout #2", "rollout #1", "rollout #3"]  # worst to best
    lanes = [t.get_text() for t in fig.axes[1].get_yticklabels()]  # the action raster
    assert lanes == ["#0", "#2", "#1", "#3"]
    # Unique recorded indices name the rollouts (a list from one sample() call, or a subset).
    fig = plot_trajectories([ro(7, 3), ro(2, 5)])
    assert [t.get_text().split(":")[0] for t in fig.legends[0].get_texts()] == [
        "rollout #7", "rollout #2",
    ]  # fmt: skip


def drawn(fig):
    """Draw ``fig`` (the figure a subfigure belongs to) with Agg; return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    root = fig.figure if fig.figure is not None else fig
    FigureCanvasAgg(root)
    root.canvas.draw()
    return root.canvas.get_renderer()


@pytest.mark.parametrize("plot", [plot_trajectories, plot_rollouts])
@pytest.mark.parametrize("num_rollouts", [4, 5, 10, 20])
def test_trajectory_legend_fits_the_figure_and_every_rollout_has_its_color(
    cartpole_rollouts, plot, num_rollouts
):
    # The legend was one row (it ran off both sides from 5 rollouts on) and the colors
    # repeated after 8.
    fig = plot(cartpole_rollouts, num_rollouts=num_rollouts)
    holder = fig if plot is plot_trajectories else fig.subfigs[1]
    (legend,) = holder.legends
    renderer = drawn(fig)
    box, page = legend.get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0, (box, page)
    assert box.x1 <= page.x1, (box, page)
    assert page.y0 <= box.y0, (box, page)
    # The panels are not squeezed to make room for it: it is below them all.
    assert all(ax.get_window_extent(renderer).y0 > box.y1 for ax in holder.axes)
    colors = [handle.get_color() for handle in legend.legend_handles]
    assert len(colors) == num_rollouts
    assert len(set(colors)) == num_rollouts
    assert colors[:4] == ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"]  # as before
    obs_lines = holder.axes[0].get_lines()
    assert [line.get_color() for line in obs_lines] == colors  # the same in every panel
    lanes = [t.get_color() for t in holder.axes[4].get_yticklabels()]  # the action raster
    assert lanes == colors


@pytest.mark.parametrize("num_rollouts", [4, 20])
def test_action_lanes_are_named_without_overlap(num_rollouts):
    # From ~15 rollouts on, the lanes' names ran into each other.
    rng = np.random.default_rng(0)
    rollouts = [
        StepSequence(
            rewards=[1.0] * n, observations=[[0.0]] * (n + 1), actions=rng.integers(0, 2, n)
        )
        for n in range(5, 5 + num_rollouts)
    ]
    fig = plot_trajectories(rollouts, num_rollouts=num_rollouts)
    raster = fig.axes[1]
    renderer = drawn(fig)
    ticks = raster.get_yticklabels()
    names = [t.get_text() for t in ticks]
    shown = [t for t in ticks if t.get_text()]
    if num_rollouts == 4:
        assert names == ["#0", "#1", "#2", "#3"]  # worst to best: all fit
    else:
        assert 4 <= len(shown) < num_rollouts
        step = names.index(shown[1].get_text())  # every k-th lane, from the first
        assert names == [f"#{k}" if k % step == 0 else "" for k in range(num_rollouts)]
    boxes = [t.get_window_extent(renderer) for t in shown]
    assert all(a.y1 <= b.y0 for a, b in itertools.pairwise(boxes)), boxes
    colors = [handle.get_color() for handle in fig.legends[0].legend_handles]
    assert [t.get_color() for t in ticks] == colors  # each lane in its rollout's color


def test_trajectory_legend_leaves_the_panels_their_height(cartpole_rollouts):
    def panel_height(num_rollouts):
        fig = plot_trajectories(cartpole_rollouts, num_rollouts=num_rollouts)
        drawn(fig)
        return fig.axes[0].get_window_extent().height

    assert panel_height(20) == pytest.approx(panel_height(3), rel=0.03)


RETURNS_RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "returns",
    [
        [-1.0] * 15 + [1.0] * 5,  # Blackjack-like: the tail is the tallest bar, at the left
        list(RETURNS_RNG.normal(0.0, 1.0, 100)),
        list(RETURNS_RNG.exponential(1.0, 200)),  # skewed: tall bars at the left
    ],
    ids=["blackjack_like", "normal100", "skew_left_heavy"],
)
@pytest.mark.parametrize("plot", [plot_returns, plot_rollouts])
def test_return_legend_covers_no_bar(returns, plot):
    # The legend sat at the upper left, on the red CVaR tail it explains.
    from matplotlib.patches import Rectangle

    rollouts = [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0]) for r in returns]
    fig = plot(rollouts)
    ax = fig.axes[0]
    (legend,) = [*ax.figure.legends, *filter(None, [ax.get_legend()])]
    renderer = drawn(fig)
    box = legend.get_window_extent(renderer)
    bars = [
        p.get_window_extent(renderer)
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_height() > 0 and p.get_width() > 0
    ]
    assert len(bars) >= 2
    assert not [bar for bar in bars if bar.overlaps(box)]
    assert not box.overlaps(ax.get_window_extent(renderer))  # nor the mean / CVaR lines
    assert fig.bbox.x0 <= box.x0
    assert box.x1 <= fig.bbox.x1
    assert fig.bbox.y0 <= box.y0
    assert legend.get_texts()[0].get_text() == "rollouts"


def grid_of(**values):
    """One rollout per point of a grid of ``values``, its return a function of the point."""
    return [
        StepSequence(
            rewards=[float(sum(p.values()))], observations=[[0.0], [1.0]], actions=[0],
            rollout_info={"domain_param": p},
        )
        for p in param_grid(values)
    ]  # fmt: skip


def test_heatmap_labels_tell_close_values_apart():
    # 4 significant digits read ['1', '1', '1', '1.001', '1.001'].
    close = [1.0, 1.00025, 1.0005, 1.00075, 1.001]
    fig = plot_return_grid(grid_of(masscart=close, length=[0.5, 1.0]), "masscart", "length")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"{x:.5g}" for x in close]  # the fewest digits that tell them apart
    assert len(set(labels)) == 5
    assert labels[0] == "1"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0.5", "1"]


def test_heatmap_labels_of_long_axes_do_not_overlap():
    # 25 x values: every one was labelled, neighbouring labels overlapped into a strip.
    xs, ys = np.linspace(0.05, 1.5, 25), np.linspace(0.01, 1.0, 20)
    fig = plot_return_grid(grid_of(length=xs, masspole=ys), "length", "masspole")
    ax = fig.axes[0]
    renderer = drawn(fig)
    for axis, values, side in ((ax.xaxis, xs, "x"), (ax.yaxis, ys, "y")):
        assert axis.get_ticklocs().tolist() == list(range(len(values)))  # a tick per value
        shown = [(round(float(tick)), label) for tick, label in zip(
            axis.get_ticklocs(), axis.get_ticklabels(), strict=True
        ) if label.get_text()]  # fmt: skip
        positions = [position for position, _ in shown]
        step = positions[1] - positions[0]
        assert step > 1  # every step-th value is labelled
        assert positions == list(range(0, len(values), step))
        assert [label.get_text() for _, label in shown] == [
            format_number(values[p]) for p in positions
        ]
        boxes = [label.get_window_extent(renderer) for _, label in shown]
        if side == "x":
            assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes))
        else:
            assert all(a.y1 < b.y0 for a, b in itertools.pairwise(boxes))


def test_heatmap_cell_whose_mean_is_nan_differs_from_an_empty_cell():
    # Its "n/a" was white on the blank cell: it looked like a cell without rollouts.
    from matplotlib.colors import to_rgba

    rollouts = grid_of(a=[1.0, 2.0], b=[1.0, 2.0, 3.0])
    rollouts[1].rewards[0] = np.nan  # (a, b) = (1, 2)
    del rollouts[2]  # (1, 3): no rollouts
    ax = plot_return_grid(rollouts, "a", "b").axes[0]
    (na,) = [t for t in ax.texts if t.get_text() == "n/a"]
    assert na.get_position() == (0, 1)
    assert to_rgba(na.get_color()) == to_rgba("black")
    (cell,) = [p for p in ax.patches if p.get_hatch()]
    assert cell.get_xy() == (-0.5, 0.5)
    assert (cell.get_width(), cell.get_height()) == (1, 1)
    assert cell.get_facecolor()[:3] != (1.0, 1.0, 1.0)  # grey, not the blank of no rollouts
    assert not [t for t in ax.texts if t.get_position() == (0, 2)]  # the empty cell: blank
    assert len(ax.texts) == 5
    (legend,) = ax.figure.legends  # says what the hatched cells are
    assert [t.get_text() for t in legend.get_texts()] == ["mean return not finite"]
    assert legend.get_patches()[0].get_hatch() == cell.get_hatch()
    # Without such cells there is no legend.
    assert not plot_return_grid(grid_of(a=[1.0, 2.0], b=[1.0, 2.0]), "a", "b").legends


def pendulum_rollouts(policy):
    with ParallelRolloutSampler(
        "Pendulum-v1", policy, 1, min_rollouts=2, seed=0, show_progress_bar=False, max_steps=20
    ) as sampler:
        return sampler.sample()


def test_box_actions_are_plotted_as_applied_with_the_commanded_ones_where_they_differ():
    # A policy commanding +-5 plotted +-5 under "torque [N·m]"; the simulator applied +-2.
    from matplotlib.patches import StepPatch

    def bang_bang(obs):
        return np.where(obs[:, 1:2] > 0, -5.0, 1.0).astype(np.float32)

    rollouts = pendulum_rollouts(bang_bang)
    fig = plot_trajectories(rollouts, act_labels=["torque"])
    ax = fig.axes[3]
    assert ax.get_ylabel() == "torque [N·m]"
    lines, commanded = ax.get_lines(), [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(lines) == len(commanded) == 2
    by_return = sorted(rollouts, key=lambda ro: ro.undiscounted_return())  # worst first
    for ro, line, dotted in zip(by_return, lines, commanded, strict=True):
        applied, wanted = ro.actions_applied[:, 0], ro.actions[:, 0]
        # Each action holds over its step: the last one too (to the final observation's time).
        np.testing.assert_array_equal(line.get_ydata(), [*applied, applied[-1]])
        np.testing.assert_array_equal(line.get_xdata(), ro.time)
        assert np.abs(line.get_ydata()).max() == 2.0
        assert dotted.get_linestyle() == ":"
        assert dotted.get_edgecolor() == pytest.approx(to_rgba(line.get_color()))
        np.testing.assert_array_equal(
            dotted.get_data().values, np.where(wanted != applied, wanted, np.nan)
        )
        assert np.nanmin(dotted.get_data().values) == -5.0  # only the clipped commands
        assert ax.get_ylim()[0] < -5.0
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-1] == "commanded action (dotted), where the env applied another"
    assert len(legend) == 3


def test_clipped_integer_actions_are_drawn_dotted_too():
    # Without a spec they were drawn as lanes of cells of the commanded values (5, never
    # applied) while the legend named a dotted commanded action that was nowhere drawn.
    from matplotlib.patches import StepPatch

    ro = StepSequence(
        rewards=[1.0, 2.0],
        observations=np.zeros((3, 1)),
        actions=np.array([[5], [0]]),
        actions_applied=np.array([[2], [0]]),  # an integer Box clipped the first
        truncated=[False, True],
    )
    fig = plot_trajectories([ro])
    ax = fig.axes[1]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [2, 0, 0])
    (dotted,) = [p for p in ax.patches if isinstance(p, StepPatch)]
    np.testing.assert_array_equal(dotted.get_data().values, [5.0, np.nan])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-1] == "commanded action (dotted), where the env applied another"


def test_more_rollouts_than_colors_and_many_action_values_are_drawn_apart():
    # More than 20 rollouts take their colors from a colormap; more than 10 discrete action
    # values are drawn as lines, not as lanes of colored cells.
    from matplotlib.collections import QuadMesh

    rollouts = [
        StepSequence(
            rewards=[float(k)] * 3, observations=np.full((4, 1), float(k)),
            actions=np.array([k % 12, (k + 1) % 12, (k + 2) % 12]),
            truncated=[False, False, True], rollout_info={"rollout_index": k},
        )
        for k in range(24)
    ]  # fmt: skip
    spec = EnvSpec(gym.spaces.Box(-np.inf, np.inf, (1,)), gym.spaces.Discrete(12))
    fig = plot_trajectories(rollouts, num_rollouts=24, env_spec=spec)
    colors = [handle.get_color() for handle in fig.legends[0].legend_handles]
    assert len(set(colors)) == len(colors) == 24
    action_ax = fig.axes[1]
    assert [line.get_color() for line in action_ax.get_lines()] == colors
    assert not [c for c in action_ax.collections if isinstance(c, QuadMesh)]


@pytest.mark.parametrize(
    "policy",
    [
        IdlePolicy(gym.spaces.Box(-2.0, 2.0, (1,))),
        # float64 commands the env takes as float32: the same actions, nothing clipped (they
        # were drawn dotted, the legend saying the env applied others).
        lambda obs: np.full((len(obs), 1), 0.1),
        LinearPolicy((3, 1), weight=np.full((1, 3), 0.1)),
    ],
    ids=["idle", "float64_callable", "linear"],
)
def test_box_actions_applied_as_commanded_have_no_dotted_line(policy):
    rollouts = pendulum_rollouts(policy)
    fig = plot_trajectories(rollouts)
    assert not fig.axes[3].patches
    assert len(fig.legends[0].get_texts()) == 2


def test_the_last_box_action_is_drawn_over_its_step():
    # A step line through the actions' start times ended where the last action began: a
    # one-step rollout's action was a single point, drawn as nothing.
    ro = StepSequence(rewards=[1.0], observations=[[0.0], [1.0]], actions=[[0.5]])
    fig = plot_trajectories([ro])
    (line,) = fig.axes[1].get_lines()
    assert line.get_xdata().tolist() == [0.0, 1.0]
    assert line.get_ydata().tolist() == [0.5, 0.5]
    assert fig.axes[1].get_xlim() == pytest.approx(fig.axes[0].get_xlim())


def test_nan_actions_are_not_taken_for_commanded_ones():
    ro = StepSequence(
        rewards=[1.0] * 3, observations=[[0.0]] * 4, actions=[[np.nan]] * 3,
        actions_applied=np.full((3, 1), np.nan, np.float32),
    )  # fmt: skip
    fig = plot_trajectories([ro])
    assert not fig.axes[1].patches
    assert len(fig.legends[0].get_texts()) == 1


def one_step_rollouts(returns, params=None):
    """One one-step rollout per return, with the domain parameters ``params[k]`` if given."""
    return [
        StepSequence(
            rewards=[float(r)], observations=[[0.0], [1.0]], actions=[0],
            rollout_info=None if params is None else {"domain_param": params[k]},
        )
        for k, r in enumerate(returns)
    ]  # fmt: skip


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_return_lines_and_interval_are_drawn_at_the_summary_values(alpha):
    # The legend named the right numbers; the lines and the band drawn were not checked.
    returns = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0]  # mean, median, min and CVaR all differ
    rollouts = one_step_rollouts(returns)
    s = summarize(rollouts, epsilon=0.3, alpha=alpha, seed=5)
    assert s.confidence == 1 - alpha
    ax = plot_returns(rollouts, epsilon=0.3, alpha=alpha, seed=5).axes[0]
    lines = {line.get_label(): line.get_xdata() for line in ax.lines}
    assert lines == {
        f"mean = {format_number(s.mean)}": pytest.approx([np.mean(returns)] * 2),
        f"worst 30% (2 rollouts), CVaR = {format_number(s.cvar)}": pytest.approx([1.5, 1.5]),
    }
    pct = format_number(100 * (1 - alpha))
    (band,) = [p for p in ax.patches if p.get_label().startswith(f"{pct}% CI of the mean [")]
    extent = band.get_bbox()
    assert (extent.x0, extent.x1) == pytest.approx((s.ci_low, s.ci_high))
    other = summarize(rollouts, alpha=0.25 - alpha, seed=5)  # the other level: another band
    assert (other.ci_low, other.ci_high) != pytest.approx((s.ci_low, s.ci_high))


def test_one_parameter_grid_draws_the_mean_and_range_of_each_value():
    returns = {1.0: [0.0, 0.0, 9.0], 2.0: [1.0, 5.0, 6.0]}  # means 3 and 4, medians 0 and 5
    rollouts = one_step_rollouts(
        [r for rs in returns.values() for r in rs],
        [{"m": m} for m, rs in returns.items() for _ in rs],
    )
    ax = plot_return_grid(rollouts, "m").axes[0]
    (mean_line,) = ax.get_lines()
    np.testing.assert_array_equal(mean_line.get_xydata(), [[1.0, 3.0], [2.0, 4.0]])
    ranges = ax.collections[1]
    assert [s.tolist() for s in ranges.get_segments()] == [
        [[1.0, 0.0], [1.0, 9.0]],
        [[2.0, 1.0], [2.0, 6.0]],
    ]


def test_heatmap_cells_hold_the_mean_of_their_rollouts():
    # Two rollouts per cell, of different returns: each cell is their mean.
    points = param_grid({"a": [1.0, 2.0], "b": [10.0, 20.0, 30.0]}) * 2
    returns = np.arange(len(points), dtype=float) ** 2
    rollouts = one_step_rollouts(returns, points)
    ax = plot_return_grid(rollouts, "a", "b").axes[0]
    expected = np.empty((3, 2))  # rows: b, columns: a
    for i, b in enumerate([10.0, 20.0, 30.0]):
        for j, a in enumerate([1.0, 2.0]):
            cell = [r for p, r in zip(points, returns, strict=True) if p == {"a": a, "b": b}]
            expected[i, j] = np.mean(cell)
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    cells = {t.get_position(): t.get_text() for t in ax.texts}
    assert cells == {(j, i): format_number(expected[i, j]) for i in range(3) for j in range(2)}
    assert ax.get_title().endswith("(2 rollouts per cell)")


@pytest.mark.parametrize("grid", [[], ["m"]])
def test_plot_rollouts_draws_the_cvar_at_its_epsilon(grid):
    rollouts = one_step_rollouts(
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        [{"m": float(k % 2)} for k in range(10)],
    )
    fig = plot_rollouts(rollouts, epsilon=0.3, grid=grid)
    ax = fig.axes[0]
    assert ax.get_title() == "Return distribution: rollouts, 10 rollouts"
    assert "worst 30% (3 rollouts), CVaR = 2" in legend_texts(ax)
    assert [line.get_xdata()[0] for line in ax.lines][1] == 2.0
    assert fig.axes[1].get_title() == ("Return over m: rollouts" if grid else "obs[0]")
