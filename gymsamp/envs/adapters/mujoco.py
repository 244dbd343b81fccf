"""Adapter for Gymnasium's MuJoCo envs: every subclass of ``MujocoEnv`` (v5 and v4 alike).

Importing this module imports ``mujoco``; :func:`gymsamp.envs.adapters.register_builtin_adapters`
therefore imports it only when a MuJoCo env is actually adapted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from gymsamp.envs.adapter import SimAdapter
from gymsamp.envs.adapters.classic import Rule, remember_nominal, validate_domain_param

__all__ = ["MujocoAdapter"]

# Joint types with more than one dof (slide and hinge have one): per-coordinate suffixes of
# their qpos and qvel entries, which also name the per-dof damping parameters' order.
_QPOS_SUFFIXES: dict[int, tuple[str, ...]] = {
    int(mujoco.mjtJoint.mjJNT_FREE): ("x", "y", "z", "qw", "qx", "qy", "qz"),
    int(mujoco.mjtJoint.mjJNT_BALL): ("qw", "qx", "qy", "qz"),
}
_QVEL_SUFFIXES: dict[int, tuple[str, ...]] = {
    int(mujoco.mjtJoint.mjJNT_FREE): ("vx", "vy", "vz", "wx", "wy", "wz"),
    int(mujoco.mjtJoint.mjJNT_BALL): ("wx", "wy", "wz"),
}

# Gravity direction for a model built without gravity, so that `gravity` can still be set.
_DOWN = np.array([0.0, 0.0, -1.0])


def _element_names(model: Any, obj: mujoco.mjtObj, count: int, kind: str) -> list[str]:
    """Names of the model's elements of one kind; unnamed ones are called ``{kind}{index}``."""
    names = [mujoco.mj_id2name(model, obj, i) or f"{kind}{i}" for i in range(count)]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"model {kind} names must be unique after naming unnamed {kind}s by index "
            f"('{kind}<index>'), got duplicates {clash}"
        )
    return names


@dataclass(frozen=True)
class _Nominal:
    """What the model held when the first adapter for the env was created."""

    params: dict[str, float]
    body_mass: np.ndarray
    body_inertia: np.ndarray
    gravity: np.ndarray


class MujocoAdapter(SimAdapter):
    """Adapter for any Gymnasium MuJoCo env (``gymnasium.envs.mujoco.mujoco_env.MujocoEnv``).

    Parameter names are derived from the model's element names; an unnamed element is called
    by its kind and index (``body4``, ``geom13``, ``joint2``, ``actuator0``):

    ========================  ==========================================  ======
    name                      model field                                 rule
    ========================  ==========================================  ======
    ``gravity``               ``opt.gravity = g * d`` (see below)         >= 0
    ``{body}_mass``           ``body_mass[b]``, for each body with        > 0
                              positive mass; ``body_inertia[b]`` is
                              scaled by the same ratio to the nominal
                              mass, so the inertia stays consistent
    ``{geom}_friction``       ``geom_friction[g, 0]`` (sliding), each     >= 0
                              geom
    ``{joint}_damping``       ``dof_damping[jnt_dofadr[j]]``, each        >= 0
                              slide/hinge joint
    ``{joint}_damping_{k}``   ``dof_damping[jnt_dofadr[j] + k]``, each    >= 0
                              free (k = 0..5: vx vy vz wx wy wz) or ball
                              (k = 0..2: wx wy wz) joint
    ``{actuator}_gear``       ``actuator_gear[a, 0]``, each actuator      real
    ========================  ==========================================  ======

    ``gravity`` is the magnitude ``g``; ``d`` is the model's nominal gravity direction
    (``[0, 0, -1]`` in every Gymnasium model except InvertedDoublePendulum's slightly tilted one,
    and for gravity-free models such as Pusher), so setting the nominal ``g`` restores the
    nominal vector exactly. After every edit ``mujoco.mj_setConst`` recomputes the derived
    constants (``body_subtreemass``, ...) on a scratch ``MjData``, leaving the env's own data
    (its current state) untouched. Nominal values are read from the model when the first
    adapter for the env instance is created. For example, Hopper-v5 has ``gravity``,
    ``torso_mass``, ``thigh_mass``, ``leg_mass``, ``foot_mass``, ``floor_friction``,
    ``torso_geom_friction``, ``thigh_geom_friction``, ``leg_geom_friction``,
    ``foot_geom_friction``, ``rootx_damping``, ``rootz_damping``, ``rooty_damping``,
    ``thigh_joint_damping``, ``leg_joint_damping``, ``foot_joint_damping``,
    ``actuator0_gear``, ``actuator1_gear``, ``actuator2_gear``.

    The state is ``concatenate(qpos, qvel)`` (float64), followed by the actuator activations
    ``act`` in a model with stateful actuators (``model.na > 0``, e.g. muscles or filters; none
    of Gymnasium's models has them). :meth:`set_state` first resets the MuJoCo data (time,
    controls, activations, solver warm start) as ``env.reset()`` does, sets the activations,
    then calls the env's ``set_state(qpos, qvel)`` and returns its own ``_get_obs()``: exactly
    what ``reset`` returns had it drawn that state, whatever the env did before. Restarting
    from a state recorded mid-episode therefore continues the same motion, but the first
    observation may differ from the recorded one where it holds quantities of the last step
    rather than of the state: the last control's actuator forces and contact forces
    (``qfrc_actuator``, ``cfrc_ext`` in Ant and Humanoid) and the body quantities that
    ``mj_step`` computed before its last integration (``cinert``, ``cvel`` in Humanoid and
    HumanoidStandup; body positions ``xpos``, read by ``get_body_com``, in Reacher's
    fingertip-to-target vector and Pusher's arm-tip and object positions). The dynamics
    from there on depend on the state alone, up to the constraint solver's tolerance: the
    solver starts every step from the last one's solution (``qacc_warmstart``), which the
    state does not hold and a restart clears (as ``reset`` does), so in a model whose
    contacts are active at the restart (Hopper, Walker2d, Ant, Humanoid) the continued
    motion may differ from the recorded one in the last bits (1e-16 to 1e-6).
    State labels: ``{joint}`` and ``{joint}_dot`` for slide/hinge joints, ``{joint}_{suffix}``
    for free/ball joints (``x y z qw qx qy qz`` / ``vx vy vz wx wy wz``), ``{actuator}_act``
    for activations; action labels are the actuator names; observation labels are not
    provided (each env lays its observation out differently).

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs.adapters.mujoco import MujocoAdapter
        >>> env = gym.make("InvertedPendulum-v5")
        >>> adapter = MujocoAdapter(env.unwrapped)
        >>> list(adapter.nominal_domain_param())  # doctest: +NORMALIZE_WHITESPACE
        ['gravity', 'cart_mass', 'pole_mass', 'rail_friction', 'cart_friction',
         'cpole_friction', 'slider_damping', 'hinge_damping', 'slide_gear']
        >>> _ = adapter.set_domain_param({"pole_mass": 10.0})  # the rest back to nominal
        >>> round(float(env.unwrapped.model.body_subtreemass[1]), 3)  # cart + pole
        20.472
        >>> adapter.state_labels
        ('slider', 'hinge', 'slider_dot', 'hinge_dot')
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        model = env.model  # type: ignore[attr-defined]
        obj = mujoco.mjtObj
        bodies = _element_names(model, obj.mjOBJ_BODY, model.nbody, "body")
        geoms = _element_names(model, obj.mjOBJ_GEOM, model.ngeom, "geom")
        joints = _element_names(model, obj.mjOBJ_JOINT, model.njnt, "joint")
        actuators = _element_names(model, obj.mjOBJ_ACTUATOR, model.nu, "actuator")

        # name -> (model array, index into it, rule); `gravity` is handled on its own.
        fields: dict[str, tuple[str, tuple[int, ...], Rule]] = {}
        for b, body in enumerate(bodies):
            # Massless bodies (the world, pure frames) have nothing to scale.
            if model.body_mass[b] > 0:
                fields[f"{body}_mass"] = ("body_mass", (b,), "positive")
        for g, geom in enumerate(geoms):
            fields[f"{geom}_friction"] = ("geom_friction", (g, 0), "nonnegative")
        for j, joint in enumerate(joints):
            adr, jtype = int(model.jnt_dofadr[j]), int(model.jnt_type[j])
            if jtype in _QVEL_SUFFIXES:
                for k in range(len(_QVEL_SUFFIXES[jtype])):
                    fields[f"{joint}_damping_{k}"] = ("dof_damping", (adr + k,), "nonnegative")
            else:
                fields[f"{joint}_damping"] = ("dof_damping", (adr,), "nonnegative")
        for a, actuator in enumerate(actuators):
            fields[f"{actuator}_gear"] = ("actuator_gear", (a, 0), "real")
        self._fields = fields
        self._rules: dict[str, Rule] = {"gravity": "nonnegative"}
        self._rules.update({name: rule for name, (_, _, rule) in fields.items()})

        self._nominal: _Nominal = remember_nominal(env, "MujocoAdapter", self._capture)
        g0 = float(np.linalg.norm(self._nominal.gravity))
        self._gravity_dir = self._nominal.gravity / g0 if g0 > 0 else _DOWN
        # Scratch data for mj_setConst, which overwrites the data it is given.
        self._scratch = mujoco.MjData(model)

        size = model.nq + model.nv + model.na
        self._state_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float64)
        self._state_labels = self._make_state_labels(model, joints, actuators)
        self._act_labels = tuple(actuators)

    def _capture(self) -> _Nominal:
        model = self.env.model  # type: ignore[attr-defined]
        return _Nominal(
            params=self.get_domain_param(),
            body_mass=model.body_mass.copy(),
            body_inertia=model.body_inertia.copy(),
            gravity=model.opt.gravity.copy(),
        )

    @staticmethod
    def _make_state_labels(model: Any, joints: list[str], actuators: list[str]) -> tuple[str, ...]:
        qpos = [""] * model.nq
        qvel = [""] * model.nv
        for j, joint in enumerate(joints):
            jtype, padr, vadr = (
                int(x) for x in (model.jnt_type[j], model.jnt_qposadr[j], model.jnt_dofadr[j])
            )
            for k, suffix in enumerate(_QPOS_SUFFIXES.get(jtype, ("",))):
                qpos[padr + k] = f"{joint}_{suffix}" if suffix else joint
            for k, suffix in enumerate(_QVEL_SUFFIXES.get(jtype, ("dot",))):
                qvel[vadr + k] = f"{joint}_{suffix}"
        # Only stateful actuators have an activation, in actuator order.
        act = [f"{name}_act" for a, name in enumerate(actuators) if model.actuator_actadr[a] >= 0]
        return (*qpos, *qvel, *act)

    # -- domain parameters ----------------------------------------------------------------
    def nominal_domain_param(self) -> dict[str, float]:
        return dict(self._nominal.params)

    def get_domain_param(self) -> dict[str, float]:
        model = self.env.model  # type: ignore[attr-defined]
        values = {"gravity": float(np.linalg.norm(model.opt.gravity))}
        for name, (attr, index, _) in self._fields.items():
            values[name] = float(getattr(model, attr)[index])
        return values

    def domain_param_validator(self) -> Callable[[Mapping[str, Any]], object]:
        return functools.partial(
            validate_domain_param, rules=dict(self._rules), nominal=dict(self._nominal.params)
        )

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> dict[str, float]:
        values = validate_domain_param(domain_param, self._rules, self._nominal.params)
        model = self.env.model  # type: ignore[attr-defined]
        nominal = self._nominal
        for name, (attr, index, _) in self._fields.items():
            value = values[name]
            getattr(model, attr)[index] = value
            if attr == "body_mass":
                # Scaling from the nominal inertia (not the current one) keeps repeated edits
                # from drifting and makes the nominal mass restore the nominal inertia exactly.
                b = index[0]
                model.body_inertia[b] = nominal.body_inertia[b] * (value / nominal.body_mass[b])
        g = values["gravity"]
        # The nominal vector itself for the nominal g: g0 * d may differ from it in the last bit.
        model.opt.gravity[:] = (
            nominal.gravity if g == nominal.params["gravity"] else g * self._gravity_dir
        )
        mujoco.mj_setConst(model, self._scratch)
        return values

    # -- state ----------------------------------------------------------------------------
    @property
    def state_space(self) -> gym.spaces.Box:
        return self._state_space

    def get_state(self) -> np.ndarray:
        data = self.env.data  # type: ignore[attr-defined]
        return np.concatenate([data.qpos, data.qvel, data.act]).astype(np.float64)

    def set_state(self, state: np.ndarray) -> Any:
        arr = np.array(state, dtype=np.float64)
        if arr.shape != self._state_space.shape:
            raise ValueError(
                f"state must have shape {self._state_space.shape} (nq + nv + na) to match "
                f"{type(self.env).__name__}'s model, got shape {arr.shape}"
            )
        env: Any = self.env
        nq = env.model.nq
        # As MujocoEnv.reset does before reset_model(): otherwise time, controls, activations
        # and the solver's warm start would carry over and the next step would depend on the
        # env's history, not on the state alone.
        mujoco.mj_resetData(env.model, env.data)
        nqv = nq + env.model.nv
        env.data.act[:] = arr[nqv:]  # before set_state's mj_forward, which reads them
        env.set_state(arr[:nq], arr[nq:nqv])
        return env._get_obs()

    def reset_info(self) -> dict[str, Any]:
        # MujocoEnv.reset reports _get_reset_info() of the state it drew (positions, distances).
        get_reset_info = getattr(self.env, "_get_reset_info", None)
        return dict(get_reset_info()) if callable(get_reset_info) else {}

    # -- labels ---------------------------------------------------------------------------
    @property
    def state_labels(self) -> tuple[str, ...] | None:
        return self._state_labels

    @property
    def act_labels(self) -> tuple[str, ...] | None:
        return self._act_labels
