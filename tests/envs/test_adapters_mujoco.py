"""Tests of the MuJoCo adapter on Hopper-v5 and InvertedPendulum-v5 (assets ship with Gymnasium)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.envs.adapter import adapter_for

mujoco = pytest.importorskip("mujoco")

from gymsamp.envs.adapters.mujoco import MujocoAdapter  # noqa: E402

HOPPER_NAMES = [
    "gravity",
    "torso_mass",
    "thigh_mass",
    "leg_mass",
    "foot_mass",
    "floor_friction",
    "torso_geom_friction",
    "thigh_geom_friction",
    "leg_geom_friction",
    "foot_geom_friction",
    "rootx_damping",
    "rootz_damping",
    "rooty_damping",
    "thigh_joint_damping",
    "leg_joint_damping",
    "foot_joint_damping",
    "actuator0_gear",
    "actuator1_gear",
    "actuator2_gear",
]


def _make(env_id: str = "Hopper-v5") -> tuple[gym.Env[Any, Any], Any]:
    env = gym.make(env_id)
    env.reset(seed=0)
    return env, adapter_for(env)


def _hopper_state(lift: float = 0.0) -> np.ndarray:
    """Hopper upright, knees slightly bent (off the joint limits at 0), at rest."""
    qpos = np.array([0.0, 1.25 + lift, 0.0, -0.3, -0.3, 0.1])
    return np.concatenate([qpos, np.zeros(6)])


def _rollout(env: gym.Env[Any, Any], adapter: Any, x: np.ndarray, n: int = 20) -> np.ndarray:
    """States after n steps from x under a fixed action sequence."""
    adapter.set_state(x)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(n, *env.action_space.shape))
    states = []
    for a in actions:
        env.step(a.astype(np.float32))
        states.append(adapter.get_state())
    return np.array(states)


def _model_arrays(model: Any) -> dict[str, np.ndarray]:
    out = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        try:
            value = getattr(model, name)
        except Exception:  # some bindings raise for absent optional fields
            continue
        if isinstance(value, np.ndarray):
            out[name] = value.copy()
    out["opt.gravity"] = model.opt.gravity.copy()
    return out


# --- registry and lazy import -----------------------------------------------------------------


def test_adapter_for_mujoco_env() -> None:
    env, adapter = _make()
    assert type(adapter) is MujocoAdapter
    assert adapter.env is env.unwrapped


def test_package_and_classic_lookups_do_not_import_mujoco() -> None:
    code = (
        "import sys, gymnasium as gym\n"
        "import gymsamp.envs.adapters\n"
        "from gymsamp.envs.adapter import adapter_for\n"
        "adapter_for(gym.make('CartPole-v1'))\n"
        "assert 'mujoco' not in sys.modules, 'mujoco imported'\n"
        "adapter_for(gym.make('InvertedPendulum-v5'))\n"
        "assert 'gymsamp.envs.adapters.mujoco' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- parameter table --------------------------------------------------------------------------


def test_hopper_parameter_names() -> None:
    _, adapter = _make()
    assert list(adapter.nominal_domain_param()) == HOPPER_NAMES


def test_inverted_pendulum_parameter_names() -> None:
    _, adapter = _make("InvertedPendulum-v5")
    assert list(adapter.nominal_domain_param()) == [
        "gravity",
        "cart_mass",
        "pole_mass",
        "rail_friction",
        "cart_friction",
        "cpole_friction",
        "slider_damping",
        "hinge_damping",
        "slide_gear",
    ]


def test_hopper_nominal_values_are_read_from_the_model() -> None:
    env, adapter = _make()
    model = env.unwrapped.model
    nominal = adapter.nominal_domain_param()
    assert nominal["gravity"] == 9.81
    for body in ("torso", "thigh", "leg", "foot"):
        assert nominal[f"{body}_mass"] == model.body(body).mass[0] > 0
    # hopper.xml: friction 0.9 on the body geoms, 2.0 on the foot, MuJoCo's default 1 on the floor
    assert nominal["floor_friction"] == 1.0
    assert nominal["torso_geom_friction"] == nominal["leg_geom_friction"] == 0.9
    assert nominal["foot_geom_friction"] == 2.0
    # damping 1 by default, 0 on the root joints; gear 200 on every motor
    assert nominal["thigh_joint_damping"] == nominal["foot_joint_damping"] == 1.0
    assert nominal["rootx_damping"] == nominal["rooty_damping"] == 0.0
    assert [nominal[f"actuator{i}_gear"] for i in range(3)] == [200.0] * 3
    assert all(type(v) is float for v in nominal.values())


def test_labels() -> None:
    _, adapter = _make()
    assert adapter.state_labels[:6] == (
        "rootx",
        "rootz",
        "rooty",
        "thigh_joint",
        "leg_joint",
        "foot_joint",
    )
    assert adapter.state_labels[6] == "rootx_dot"
    assert len(adapter.state_labels) == adapter.state_space.shape[0] == 12
    assert adapter.act_labels == ("actuator0", "actuator1", "actuator2")
    assert adapter.obs_labels is None
    assert adapter.state_space.dtype == np.float64


# --- round trips ------------------------------------------------------------------------------


def test_round_trips_restore_the_model_bit_exactly() -> None:
    env, adapter = _make()
    model = env.unwrapped.model
    fresh = _model_arrays(gym.make("Hopper-v5").unwrapped.model)
    nominal = adapter.nominal_domain_param()
    edited = {k: v * 1.5 + 0.25 for k, v in nominal.items()}
    adapter.set_domain_param(edited)
    assert adapter.get_domain_param() == edited
    assert adapter.nominal_domain_param() == nominal
    assert adapter_for(env).nominal_domain_param() == nominal  # a later adapter too
    adapter.set_domain_param(nominal)
    assert adapter.get_domain_param() == nominal
    restored = _model_arrays(model)
    assert restored.keys() == fresh.keys()
    changed = [k for k in fresh if not np.array_equal(fresh[k], restored[k], equal_nan=True)]
    assert changed == []


def test_missing_keys_go_back_to_nominal_and_unknown_keys_raise() -> None:
    _, adapter = _make()
    nominal = adapter.nominal_domain_param()
    adapter.set_domain_param({k: v * 2 for k, v in nominal.items()})
    adapter.set_domain_param({"torso_mass": 5.0})
    assert adapter.get_domain_param() == {**nominal, "torso_mass": 5.0}
    with pytest.raises(ValueError, match=r"unknown \['torso_masss'\]") as info:
        adapter.set_domain_param({"torso_masss": 5.0})
    assert "'thigh_joint_damping'" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("torso_mass", 0.0, r"domain_param\['torso_mass'\] must be a finite real number > 0"),
        ("floor_friction", -0.1, r">= 0, got -0.1"),
        ("gravity", float("inf"), r">= 0, got inf"),
    ],
)
def test_invalid_values_raise(name: str, value: float, match: str) -> None:
    _, adapter = _make()
    with pytest.raises(ValueError, match=match):
        adapter.set_domain_param({name: value})
    with pytest.raises(ValueError, match=match):  # the env-free check samplers use
        adapter.domain_param_validator()({name: value})


# --- physics ----------------------------------------------------------------------------------


def test_mass_edit_updates_subtree_mass_and_inertia() -> None:
    env, adapter = _make()
    model = env.unwrapped.model
    nominal = adapter.nominal_domain_param()
    thigh = model.body("thigh").id
    inertia0 = model.body_inertia[thigh].copy()
    adapter.set_domain_param({"thigh_mass": 3 * nominal["thigh_mass"]})
    masses = {b: model.body(b).mass[0] for b in ("torso", "thigh", "leg", "foot")}
    assert masses["thigh"] == 3 * nominal["thigh_mass"]
    np.testing.assert_allclose(model.body_inertia[thigh], 3 * inertia0, rtol=1e-15)
    np.testing.assert_allclose(model.body_subtreemass[0], sum(masses.values()), rtol=1e-12)
    np.testing.assert_allclose(
        model.body_subtreemass[thigh], masses["thigh"] + masses["leg"] + masses["foot"], rtol=1e-12
    )


def test_mass_edit_changes_the_trajectory() -> None:
    env, adapter = _make()
    x = _hopper_state()
    nominal = _rollout(env, adapter, x)
    assert np.array_equal(nominal, _rollout(env, adapter, x))  # deterministic baseline
    adapter.set_domain_param({"torso_mass": 2 * adapter.nominal_domain_param()["torso_mass"]})
    assert np.abs(_rollout(env, adapter, x) - nominal).max() > 1e-3


def test_scaling_mass_gear_and_damping_together_leaves_the_motion_unchanged() -> None:
    # M(q) qacc = -c(q, v) - g(q) - D v + G u: scaling every mass AND inertia, the gears and
    # the damping by k scales both sides by k. It fails if the inertia did not follow the mass.
    env, adapter = _make("InvertedPendulum-v5")
    nominal = adapter.nominal_domain_param()
    x = np.array([0.1, 0.2, 0.3, -0.5])
    reference = _rollout(env, adapter, x)
    k = 3.0
    scaled = {
        n: v * k if n.endswith(("_mass", "_gear", "_damping")) else v for n, v in nominal.items()
    }
    adapter.set_domain_param(scaled)
    np.testing.assert_allclose(_rollout(env, adapter, x), reference, rtol=0, atol=1e-12)
    adapter.set_domain_param({"pole_mass": k * nominal["pole_mass"]})
    assert np.abs(_rollout(env, adapter, x) - reference).max() > 1e-2


@pytest.mark.parametrize("g", [9.81, 4.0, 0.0])
def test_gravity_sets_the_free_fall_acceleration(g: float) -> None:
    # Lifted 2 m, the hopper touches nothing: the root slides along z with qacc = -g and no
    # joint accelerates (armature and damping act on the internal joints only).
    env, adapter = _make()
    adapter.set_domain_param({"gravity": g})
    np.testing.assert_array_equal(env.unwrapped.model.opt.gravity, [0.0, 0.0, -g])
    adapter.set_state(_hopper_state(lift=2.0))
    data = env.unwrapped.data
    assert data.ncon == 0
    np.testing.assert_allclose(data.qacc, [0.0, -g, 0.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_gravity_keeps_a_tilted_nominal_direction() -> None:
    # InvertedDoublePendulum's gravity has a 1e-5 x component; g scales the vector along it.
    env, adapter = _make("InvertedDoublePendulum-v5")
    model = env.unwrapped.model
    g0_vec = model.opt.gravity.copy()
    g0 = adapter.nominal_domain_param()["gravity"]
    assert g0 == pytest.approx(9.81)
    adapter.set_domain_param({"gravity": 2 * g0})
    np.testing.assert_allclose(model.opt.gravity, 2 * g0_vec, rtol=1e-15)
    assert adapter.get_domain_param()["gravity"] == pytest.approx(2 * g0, rel=1e-15)
    adapter.set_domain_param({"gravity": g0})
    np.testing.assert_array_equal(model.opt.gravity, g0_vec)


def test_the_nominal_gravity_restores_the_nominal_vector_bit_for_bit() -> None:
    # A nominal vector for which |g0| * (g0 / |g0|) differs from g0 in the last bit.
    env = gym.make("Hopper-v5")
    model = env.unwrapped.model
    g0_vec = np.array([1.4934311452207607, -1.2590655321041202, 1.5139237747390626])
    g0 = float(np.linalg.norm(g0_vec))
    assert (g0 * (g0_vec / g0)).tobytes() != g0_vec.tobytes()  # else this test proves nothing
    model.opt.gravity[:] = g0_vec
    adapter = MujocoAdapter(env.unwrapped)  # reads the nominal values now
    adapter.set_domain_param({"gravity": 3.0})
    np.testing.assert_allclose(model.opt.gravity, 3.0 * g0_vec / g0, rtol=1e-15)
    adapter.set_domain_param({})  # back to nominal
    assert model.opt.gravity.tobytes() == g0_vec.tobytes()


def test_gravity_of_a_gravity_free_model_points_down() -> None:
    env, adapter = _make("Pusher-v5")
    assert adapter.nominal_domain_param()["gravity"] == 0.0
    adapter.set_domain_param({"gravity": 9.81})
    np.testing.assert_array_equal(env.unwrapped.model.opt.gravity, [0.0, 0.0, -9.81])


def test_gear_scales_the_actuator_force() -> None:
    env, adapter = _make()
    adapter.set_domain_param({"actuator0_gear": 400.0})
    adapter.set_state(_hopper_state())
    env.step(np.array([0.5, 0.5, 0.5], dtype=np.float32))
    qfrc = env.unwrapped.data.qfrc_actuator
    np.testing.assert_allclose(qfrc[3:], [400.0 * 0.5, 200.0 * 0.5, 200.0 * 0.5], rtol=1e-12)


def test_damping_sets_the_passive_joint_force() -> None:
    env, adapter = _make("InvertedPendulum-v5")
    adapter.set_domain_param({"hinge_damping": 7.0})
    adapter.set_state(np.array([0.0, 0.1, 0.2, -0.5]))
    np.testing.assert_allclose(env.unwrapped.data.qfrc_damper, [-1.0 * 0.2, -7.0 * -0.5])


def test_friction_changes_the_trajectory_in_contact() -> None:
    env, adapter = _make()
    x = _hopper_state()
    nominal = _rollout(env, adapter, x, n=40)
    adapter.set_domain_param({"foot_geom_friction": 0.05, "floor_friction": 0.05})
    assert np.abs(_rollout(env, adapter, x, n=40) - nominal).max() > 1e-3


# --- exact initial states ---------------------------------------------------------------------


# Ant's observation holds contact forces (cfrc_ext), which a stepped env keeps from its last
# step unless set_state resets the data as reset() does.
@pytest.mark.parametrize("env_id", ["Hopper-v5", "InvertedPendulum-v5", "Ant-v5"])
def test_set_state_is_exact_whatever_the_history(env_id: str) -> None:
    env, adapter = _make(env_id)
    rng = np.random.default_rng(1)
    env.action_space.seed(0)  # the same history on every run
    for _ in range(30):  # history: time, warm start, controls
        env.step(env.action_space.sample())
    x = adapter.get_state() + rng.normal(scale=0.01, size=adapter.state_space.shape)
    obs = adapter.set_state(x)
    assert np.array_equal(adapter.get_state(), x)

    ref = gym.make(env_id)
    ref.reset(seed=2)
    nq = ref.unwrapped.model.nq
    ref.unwrapped.set_state(x[:nq], x[nq:])
    ref_obs = ref.unwrapped._get_obs()
    assert obs.dtype == ref_obs.dtype
    assert np.array_equal(obs, ref_obs)
    for a in rng.uniform(-1, 1, size=(5, *env.action_space.shape)).astype(np.float32):
        got, want = env.step(a), ref.step(a)
        assert np.array_equal(got[0], want[0])
        assert got[1:4] == want[1:4]  # reward, terminated, truncated
    assert np.array_equal(adapter.get_state(), adapter_for(ref).get_state())


def test_a_restart_from_a_recorded_state_differs_only_where_the_obs_lags_the_state() -> None:
    # Reacher's observation ends with fingertip - target, read from body positions (xpos) that
    # mj_step computed before its last integration: a recorded observation holds the previous
    # step's positions, the restart's first one those of the state itself (what reset gives).
    from gymsamp.envs.wrappers import InitStateWrapper
    from gymsamp.policies import RandomPolicy
    from gymsamp.sampling import rollout

    env = InitStateWrapper(gym.make("Reacher-v5"))
    ro = rollout(env, RandomPolicy(env.action_space), seed=0, max_steps=12, no_close=True)
    t = 5
    obs, _ = env.reset(seed=1, options={"init_state": ro.states[t]})
    assert np.flatnonzero(obs != ro.observations[t]).tolist() == [8, 9]
    fingertip = env.unwrapped.get_body_com("fingertip") - env.unwrapped.get_body_com("target")
    assert np.array_equal(obs[8:], fingertip[:2])
    for k in range(t, ro.length):  # the motion continues exactly
        obs = env.step(ro.actions_applied[k])[0]
        assert np.array_equal(obs, ro.observations[k + 1]), k
    env.close()


def test_set_domain_param_leaves_the_current_state_alone() -> None:
    # mj_setConst overwrites the MjData it works on; the env's must keep its state.
    env, adapter = _make()
    env.action_space.seed(0)
    for _ in range(5):
        env.step(env.action_space.sample())
    data = env.unwrapped.data
    before = (adapter.get_state(), data.time, data.qacc.copy())
    adapter.set_domain_param({"torso_mass": 7.0, "gravity": 3.0})
    assert np.array_equal(adapter.get_state(), before[0])
    assert data.time == before[1]
    assert np.array_equal(data.qacc, before[2])


def test_free_joint_names_per_dof() -> None:
    # Ant: a free root joint (7 qpos, 6 dofs), unnamed bodies and actuators named by index.
    env, adapter = _make("Ant-v5")
    names = list(adapter.nominal_domain_param())
    assert [n for n in names if n.startswith("root_")] == [f"root_damping_{k}" for k in range(6)]
    assert "body4_mass" in names
    assert "actuator7_gear" in names
    assert adapter.state_labels[:8] == (
        "root_x",
        "root_y",
        "root_z",
        "root_qw",
        "root_qx",
        "root_qy",
        "root_qz",
        "hip_1",
    )
    nq = env.unwrapped.model.nq
    assert adapter.state_labels[nq : nq + 6] == (
        "root_vx",
        "root_vy",
        "root_vz",
        "root_wx",
        "root_wy",
        "root_wz",
    )
    adapter.set_domain_param({"root_damping_5": 2.5})
    assert env.unwrapped.model.dof_damping[5] == 2.5


def test_set_state_rejects_a_wrong_shape() -> None:
    _, adapter = _make()
    with pytest.raises(ValueError, match=r"state must have shape \(12,\)"):
        adapter.set_state(np.zeros(11))


@pytest.mark.parametrize(
    ("env_id", "keys"),
    [
        ("HalfCheetah-v5", ("x_position",)),
        ("Hopper-v5", ("x_position", "z_distance_from_origin")),
    ],
)
def test_init_state_reset_info_describes_the_state_set(env_id: str, keys: tuple[str, ...]) -> None:
    # MujocoEnv.reset reports positions of the state it drew; with init_state they are those
    # of the state gymsamp set, as the env itself reports them for it.
    from gymsamp.envs.wrappers import InitStateWrapper

    env = InitStateWrapper(gym.make(env_id))
    drawn = env.reset(seed=0)[1]["init_state"]
    state = drawn.copy()
    state[0] = 5.0  # rootx
    _, info = env.reset(seed=0, options={"init_state": state})
    assert env.unwrapped.data.qpos[0] == 5.0
    expected = env.unwrapped._get_reset_info()
    assert expected["x_position"] == 5.0
    for key in keys:
        assert info[key] == expected[key], key
    assert adapter_for(env.unwrapped).reset_info() == expected
    env.close()


_FILTER_ARM = """
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <body name="arm">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
      <geom name="rod" type="capsule" fromto="0 0 0 0.5 0 0" size="0.05" mass="1"/>
    </body>
  </worldbody>
  <actuator>
    <general name="motor" joint="hinge" dyntype="filter" dynprm="0.2" gainprm="5"/>
  </actuator>
</mujoco>
"""


def _filter_arm(path: str) -> Any:
    from gymnasium.envs.mujoco import MujocoEnv

    class FilterArm(MujocoEnv):
        metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 (Gymnasium's)

        def __init__(self) -> None:
            space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
            super().__init__(path, 2, observation_space=space)

        def step(self, action: Any) -> Any:
            self.do_simulation(action, self.frame_skip)
            return self._get_obs(), 0.0, False, False, {}

        def _get_obs(self) -> np.ndarray:
            return np.concatenate([self.data.qpos, self.data.qvel])

        def reset_model(self) -> np.ndarray:
            self.set_state(self.init_qpos, self.init_qvel)
            return self._get_obs()

    return FilterArm()


def test_the_state_of_a_model_with_stateful_actuators_holds_their_activations(tmp_path):
    # A filter (or muscle) actuator has an activation that the next steps depend on; the
    # state was qpos and qvel only, so a restored state lost it and the motion changed.
    xml = tmp_path / "arm.xml"
    xml.write_text(_FILTER_ARM)
    recorded, replayed = _filter_arm(str(xml)), _filter_arm(str(xml))
    adapter = MujocoAdapter(recorded)
    assert adapter.state_space.shape == (3,)
    assert adapter.state_labels == ("hinge", "hinge_dot", "motor_act")
    recorded.reset(seed=0)
    for _ in range(10):
        recorded.step(np.ones(1))
    state = adapter.get_state()
    assert state[2] == recorded.data.act[0] != 0.0
    replayed.reset(seed=1)
    MujocoAdapter(replayed).set_state(state)
    np.testing.assert_array_equal(MujocoAdapter(replayed).get_state(), state)
    for _ in range(5):
        np.testing.assert_array_equal(replayed.step(np.ones(1))[0], recorded.step(np.ones(1))[0])
    recorded.close()
    replayed.close()


def test_an_auto_name_that_another_element_has_is_refused(tmp_path):
    # The unnamed rod is called "geom0" by its index, the name the sphere was given: their
    # parameters (geom0_friction) would be one name for two geoms.
    xml = tmp_path / "arm.xml"
    xml.write_text(
        _FILTER_ARM.replace('<geom name="rod"', "<geom").replace(
            "</body>", '  <geom name="geom0" type="sphere" size="0.05" mass="0.1"/>\n    </body>'
        )
    )
    env = _filter_arm(str(xml))
    try:
        with pytest.raises(
            ValueError,
            match=r"model geom names must be unique after naming unnamed geoms by index "
            r"\('geom<index>'\), got duplicates \['geom0'\]",
        ):
            MujocoAdapter(env)
    finally:
        env.close()


def test_the_adapters_package_gives_the_mujoco_adapter_on_first_use() -> None:
    from gymsamp.envs import adapters

    assert adapters.MujocoAdapter is MujocoAdapter
    with pytest.raises(AttributeError, match=r"has no attribute 'MujocoAdaptor'"):
        _ = adapters.MujocoAdaptor
