"""Argument checks and per-sub-env generators shared by the built-in policies and the adapters.

Every policy validates ``start``/``reset_envs``/``act`` arguments the same way and keeps one
``numpy.random.Generator`` per sub-env (:class:`_EnvRngs`); the adapters also share the checks
of specs, observations and actions and the seeded fork of torch's global generator.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from gymsamp.data.data_format import is_tensor
from gymsamp.data.spec import EnvSpec
from gymsamp.policies.base import LazyGenerators

if TYPE_CHECKING:
    import torch

# The generator of sub-envs not reset since start() (idle ones, whose actions are ignored).
_FALLBACK_SEED = 0

# The seed of the observations (and of torch's generator) with which an adapter tests whether
# its model is batch invariant: any fixed value, so that the verdict never depends on the run.
_PROBE_SEED = 0
# How many observation batches the test draws from the space, and how many around 0. A row's
# batched and lone outputs can agree by chance (for a random 3-64-1 MLP and 4 rows, all rows
# agree in ~1% of the networks; for a random 2-8-1 tanh MLP and 2 rows, in ~70% of the batches
# around 0, so 8 such batches passed ~27% of those networks, every one of which differs on
# some observations); the test stops at the first batch that differs, so only batch-invariant
# models pay for all.
_PROBE_BATCHES = 8
_NEAR_ZERO_BATCHES = 32
#: Distance between the torch seeds of consecutive probe batches, whose rows take the seeds
#: ``base + i`` (as each sub-env's row has its own in ``act``): larger than any number of
#: sub-envs, so no two calls of the test share a seed, and a model drawing few numbers cannot
#: agree with its rows by the same coincidence in every batch.
_PROBE_SEED_STRIDE = 1 << 20
#: Scales of the probe batches drawn around 0 (see ``_probe_batches``).
_PROBE_SCALES = (1.0, 0.1, 10.0)


def _batch_size(observations: Any, owner: str) -> int:
    """The batch dimension ``B`` of an observation batch (an array or a dict/tuple of arrays)."""
    leaf = observations
    while isinstance(leaf, (Mapping, tuple)):
        if len(leaf) == 0:
            raise ValueError(f"{owner}: observations must not be an empty {type(leaf).__name__}")
        leaf = next(iter(leaf.values())) if isinstance(leaf, Mapping) else leaf[0]
    shape = np.shape(leaf)
    if len(shape) == 0:
        raise ValueError(
            f"{owner}: observations must have a leading batch dimension (B, *obs_shape), "
            "got a scalar"
        )
    return int(shape[0])


def _check_env_indices(env_indices: Any, num_envs: int, owner: str) -> np.ndarray:
    """Validate sub-env indices: a 1-D integer array with values in ``[0, num_envs)``."""
    indices = np.asarray(env_indices)
    if indices.ndim != 1 or (indices.size > 0 and indices.dtype.kind not in "iu"):
        raise TypeError(f"{owner}: env_indices must be a 1-D array of ints, got {env_indices!r}")
    indices = indices.astype(np.int64)
    # Checked on a list: these batches are tiny (the sub-envs that start an episode now),
    # where numpy's reductions cost more than the Python loop.
    values = indices.tolist()
    if values and (min(values) < 0 or max(values) >= num_envs):
        raise ValueError(f"{owner}: env_indices must lie in [0, num_envs={num_envs}), got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"{owner}: env_indices must be distinct, got {values}")
    return indices


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64's step and finalizer: a bijection of 64-bit ints that mixes every bit.

    Example:
        >>> hex(_splitmix64(0))
        '0xe220a8397b1dcdaf'
    """
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class _EnvRngs:
    """One ``numpy.random.Generator`` per sub-env, with a shared fallback for idle sub-envs.

    ``rngs`` are read and checked at once, except a :class:`~gymsamp.policies.base.LazyGenerators`
    (the collection loop's, whose generators are made on demand): it is read only when a
    generator is first needed, so policies that draw nothing never make one.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.num_envs: int | None = None
        self._rngs: list[np.random.Generator] = []
        # Sub-env -> (sequence, position) of generators not read yet.
        self._unread: dict[int, tuple[Sequence[np.random.Generator], int]] = {}

    def start(self, num_envs: int) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral):
            raise TypeError(f"{self.owner}: num_envs must be an int >= 1, got {num_envs!r}")
        if num_envs < 1:
            raise ValueError(f"{self.owner}: num_envs must be an int >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        fallback = np.random.default_rng(_FALLBACK_SEED)
        self._rngs = [fallback] * self.num_envs
        self._unread = {}

    @property
    def rngs(self) -> list[np.random.Generator]:
        """Every sub-env's generator (reading those not read yet)."""
        if self._unread:
            for index, (sequence, position) in self._unread.items():
                self._rngs[index] = self._checked(sequence[position])
            self._unread = {}
        return self._rngs

    def _checked(self, rng: Any) -> np.random.Generator:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"{self.owner}: rngs must hold numpy.random.Generator objects, "
                f"got {type(rng).__name__}"
            )
        return rng

    def require_started(self, method: str) -> int:
        if self.num_envs is None:
            raise RuntimeError(
                f"{self.owner}.{method}() called before start(); "
                "call policy.start(num_envs, eval=...) first"
            )
        return self.num_envs

    def reset(self, env_indices: Any, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Validate the arguments of ``reset_envs`` and store the generators; return indices."""
        num_envs = self.require_started("reset_envs")
        indices = _check_env_indices(env_indices, num_envs, self.owner)
        lazy = isinstance(rngs, LazyGenerators)
        # Anything else is read once here (it may be a generator expression) and checked.
        sequence = rngs if lazy else [self._checked(rng) for rng in rngs]
        if len(sequence) != len(indices):
            raise ValueError(
                f"{self.owner}: rngs has length {len(sequence)} but must have {len(indices)} "
                "to match env_indices"
            )
        for position, index in enumerate(indices.tolist()):
            if lazy:
                self._unread[index] = (sequence, position)
            else:
                self._rngs[index] = sequence[position]
                self._unread.pop(index, None)
        return indices

    def check_batch(self, observations: Any) -> int:
        """Check that the observation batch covers all ``num_envs`` sub-envs; return ``B``."""
        num_envs = self.require_started("act")
        batch = _batch_size(observations, self.owner)
        if batch != num_envs:
            raise ValueError(
                f"{self.owner}: observations has batch dimension {batch} but must have "
                f"{num_envs} to match num_envs given to start()"
            )
        return batch

    def combined_seed(self) -> int:
        """One 63-bit seed from every sub-env's generator (one raw 64-bit draw from each, in
        sub-env order, folded through SplitMix64's finalizer).

        Runs once per vector step of the torch adapters: a ``SeedSequence`` of the draws and
        ``Generator.integers`` cost ~20 us for 8 sub-envs, this ~4 us.
        """
        state = 0
        for rng in self.rngs:
            state = _splitmix64(state ^ int(rng.bit_generator.random_raw()))
        return state >> 1

    def row_seeds(self) -> list[int]:
        """One 63-bit seed per sub-env from its own generator alone: for a single sub-env,
        what :meth:`combined_seed` gives (so a batch-invariant policy draws in every sub-env
        what it draws in a one-env ``rollout()``)."""
        return self.row_seeds_of(range(len(self._rngs)))

    def row_seeds_of(self, env_indices: Any) -> list[int]:
        """:meth:`row_seeds` of the sub-envs ``env_indices`` only (the others draw nothing)."""
        rngs = self.rngs
        return [_splitmix64(int(rngs[i].bit_generator.random_raw())) >> 1 for i in env_indices]


def _check_observation_shape(
    observations: Any, obs_shape: tuple[int, ...], batch: int, owner: str
) -> np.ndarray:
    """Return ``observations`` as an array of shape ``(batch, *obs_shape)`` or raise."""
    array = np.asarray(observations)
    expected = (batch, *obs_shape)
    if array.shape != expected:
        raise ValueError(
            f"{owner}: observations has shape {array.shape} but must have {expected} "
            "(num_envs, *observation_shape) to match the observation space"
        )
    return array


def _check_action_space(space: Any, supported: tuple[type, ...], owner: str) -> None:
    if not isinstance(space, supported):
        names = ", ".join(cls.__name__ for cls in supported)
        raise TypeError(
            f"{owner}: action_space must be one of gymnasium.spaces {names}, got {space!r}"
        )


def _host_array(values: Any) -> np.ndarray:
    """``values`` as a numpy array; a torch tensor is detached and moved to the CPU first (one
    that requires grad, e.g. an optimizer's parameters, or one on a GPU)."""
    if is_tensor(values):
        return np.asarray(values.detach().cpu().numpy())
    return np.asarray(values)


def _real_params(values: Any, name: str, owner: str) -> np.ndarray:
    """``values`` as a float64 array of the caller's own (a copy), refusing complex and
    non-finite values (a NaN parameter would only show later, as NaN actions)."""
    raw = _host_array(values)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {name} must hold real numbers, got dtype {raw.dtype}")
    array = np.array(raw, dtype=np.float64, copy=True)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: {name} must be finite, got {array!r}")
    return array


def _check_flat_params(values: Any, num_params: int, name: str, owner: str) -> np.ndarray:
    array = _real_params(values, name, owner)
    if array.shape != (num_params,):
        raise ValueError(
            f"{owner}: {name} must be a flat vector of length num_params={num_params}, "
            f"got shape {array.shape}"
        )
    return array


def _check_env_params(
    env_indices: Any, params: Any, num_params: int, num_envs: int | None, owner: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the arguments of ``set_env_params``; ``num_envs=None`` skips the upper bound."""
    bound = np.iinfo(np.int64).max if num_envs is None else num_envs
    indices = _check_env_indices(env_indices, bound, owner)
    array = _real_params(params, "params", owner)
    if array.shape != (len(indices), num_params):
        raise ValueError(
            f"{owner}: params has shape {array.shape} but must have "
            f"{(len(indices), num_params)} (len(env_indices), num_params)"
        )
    return indices, array


def _check_spec(spec: Any, owner: str) -> EnvSpec:
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"{owner}: spec must be a gymsamp.data.EnvSpec, got {type(spec).__name__}")
    return spec


def _to_numpy(value: Any) -> np.ndarray:
    """A fresh numpy copy (never a view of a tensor or array the caller may reuse)."""
    if is_tensor(value):
        if str(value.dtype) == "torch.bfloat16":  # numpy has no bfloat16; float32 holds it
            value = value.float()
        return value.detach().cpu().numpy().copy()
    return np.array(value)


def _tree_map(fn: Callable[..., Any], *trees: Any) -> Any:
    """Map ``fn`` over the leaves of tensors or arrays in (nested) tuples, lists or dicts."""
    first = trees[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_tree_map(fn, *parts) for parts in zip(*trees, strict=True))
    if isinstance(first, Mapping):
        return {key: _tree_map(fn, *(tree[key] for tree in trees)) for key in first}
    return fn(*trees)


def _read_only_view(leaf: Any) -> Any:
    if type(leaf) is not np.ndarray:
        return leaf
    view = leaf.view()
    view.flags.writeable = False
    return view


def _read_only(observations: Any) -> Any:
    """A read-only view of an observation batch (of its arrays, for dict / tuple ones): the
    loop records the batch it hands the policy, so a policy that changed it in place would
    change the rollout's observations."""
    if type(observations) is np.ndarray:
        return _read_only_view(observations)
    return _tree_map(_read_only_view, observations)


def _rows(observations: Any, index: Any) -> Any:
    """The rows ``index`` of an observation batch (an array or tensor, or a dict / tuple of
    them: Dict and Tuple observation spaces)."""
    return _tree_map(lambda leaf: leaf[index], observations)


def _observations(observations: Any, spec: EnvSpec, batch: int, owner: str) -> Any:
    """Check array observations against the observation space; dict/tuple ones pass as is."""
    obs_shape = spec.observation_space.shape
    if obs_shape is None:
        return observations
    return _check_observation_shape(observations, tuple(obs_shape), batch, owner)


def _check_actions(actions: Any, spec: EnvSpec, batch: int, owner: str) -> np.ndarray:
    try:
        array = _to_numpy(actions)
    except (TypeError, ValueError) as err:
        raise TypeError(_unfit_actions(actions, spec, batch, owner, err)) from None
    if array.dtype == object and array.ndim == 0:
        # None, a dict, any other object: no actions at all (not "actions of shape ()").
        raise TypeError(_unfit_actions(actions, spec, batch, owner))
    act_shape = spec.action_space.shape
    if act_shape is not None and array.shape != (batch, *act_shape):
        if isinstance(actions, tuple):
            raise ValueError(_unfit_actions(actions, spec, batch, owner))
        raise ValueError(
            f"{owner} returned actions of shape {array.shape} but must return "
            f"{(batch, *act_shape)} (B, *action_shape) for B={batch} sub-envs and the action "
            f"space {spec.action_space!r}{_shape_hint(array.shape, spec.action_space, batch)}"
        )
    return array


def _shape_hint(shape: tuple[int, ...], space: Any, batch: int) -> str:
    """What a wrong action shape most likely means, for the usual first mistakes: a policy
    written for one observation, scores per action for a ``Discrete`` space, an extra or a
    missing action axis."""
    if not shape:
        return (
            " (one action, not a batch: a policy gets a batch of observations, one row per "
            "sub-env, and returns one action per row)"
        )
    if isinstance(space, gym.spaces.Discrete):
        if shape == (batch, int(space.n)) and space.n > 1:
            return (
                f" (a value for each of the {space.n} actions, e.g. logits or Q-values? return "
                "the chosen action of each row, e.g. .argmax(-1))"
            )
        if shape == (batch, 1):
            return " (an action per row with an extra axis: drop it, e.g. actions[:, 0])"
    elif space.shape == (1,) and shape == (batch,):
        return " (an action per row without the action axis: add it, e.g. actions[:, None])"
    return ""


def _check_row_actions(actions: Any, spec: EnvSpec, batch: int, owner: str) -> np.ndarray:
    """:func:`_check_actions` for the joined outputs of a model run on each sub-env alone: a
    wrong shape is reported as the model returned it for a batch of one, not as the join's
    (3 rows per call, joined for 2 sub-envs, are not "6 rows"). Rows of one action each join
    to what a batched call would have returned: their message stays the batch's."""
    try:
        return _check_actions(actions, spec, batch, owner)
    except ValueError:
        shape = None if isinstance(actions, tuple) else getattr(actions, "shape", None)
        act_shape = spec.action_space.shape
        if batch == 1 or act_shape is None or not shape or shape[0] % batch or shape[0] == batch:
            raise
        row = (shape[0] // batch, *shape[1:])
        raise ValueError(
            f"{owner} runs on one sub-env at a time (a batch of one) and returned actions of "
            f"shape {row} but must return {(1, *act_shape)} (1, *action_shape) for the action "
            f"space {spec.action_space!r}"
        ) from None


def _unfit_actions(
    actions: Any, spec: EnvSpec, batch: int, owner: str, err: Exception | None = None
) -> str:
    """The message for ``actions`` that make no array of actions (numpy's ``err``), or a tuple
    (actor-critic modules return ``(actions, values, ...)``: said so, not numpy's message)."""
    act_shape = spec.action_space.shape
    expected = "?" if act_shape is None else (batch, *act_shape)
    if isinstance(actions, tuple):
        got = (
            f"a tuple of {len(actions)} (a module or function returning (actions, ...) must "
            "be wrapped to return the actions alone)"
        )
    else:
        got = type(actions).__name__ + ("" if err is None else f" ({err})")
    rule = f"{owner} must return one array of actions of shape {expected} (B, *action_shape)"
    return f"{rule}, got {got}"


@contextlib.contextmanager
def _seeded_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Fork torch's global generators (CPU and ``device``) and seed the fork with ``seed``."""
    import torch

    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    device_module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else device_module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        with device_module.device(index):
            device_module.manual_seed(seed)
        yield


def _forget_env_params(env_params: dict[int, Any], env_indices: Any) -> None:
    """Drop the per-sub-env parameters of ``env_indices`` (all sub-envs if None)."""
    if env_indices is None:
        env_params.clear()
        return
    for index in np.asarray(env_indices).ravel():
        env_params.pop(int(index), None)


def _same_bits(first: Any, second: Any) -> bool:
    """Whether two policy outputs (arrays or tensors, or tuples / dicts of them) are equal
    bit for bit: the same structure, dtypes, shapes and bytes (NaNs included)."""
    if isinstance(first, Mapping) or isinstance(second, Mapping):
        return (
            isinstance(first, Mapping)
            and isinstance(second, Mapping)
            and first.keys() == second.keys()
            and all(_same_bits(first[key], second[key]) for key in first)
        )
    if isinstance(first, (tuple, list)) or isinstance(second, (tuple, list)):
        return (
            isinstance(first, (tuple, list))
            and isinstance(second, (tuple, list))
            and len(first) == len(second)
            and all(_same_bits(a, b) for a, b in zip(first, second, strict=True))
        )
    a, b = _to_numpy(first), _to_numpy(second)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _check_batch_invariant(value: Any, owner: str) -> bool | None:
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{owner}: batch_invariant must be None (test the model), True or False, got {value!r}"
        )
    return None if value is None else bool(value)


class _RowByRow:
    """Whether an adapter runs its model on each sub-env alone (a batch of one) or on the
    whole batch: the user's ``batch_invariant`` flag, or, where it is None, gymsamp's choice.

    gymsamp's choice for a model it may test (a torch module, an SB3 model: pure functions of
    their inputs and torch's generator), at every :meth:`decide`, i.e. every ``start()``: the
    model runs on ``num_envs`` observations drawn from the observation space with a fixed
    seed, once as a batch and once row by row. If every output agrees bit for bit, batching is
    exact for this model and batch size (BLAS picks its kernels by shape, not by value) and
    the model runs batched (DESIGN §5); otherwise a sub-env's actions would depend on how many
    sub-envs run beside it, and the model runs row by row, so that ``sample()`` equals one-env
    ``rollout()`` calls bit for bit (DESIGN §4, which wins). A model it may not test (a user
    function, which may record its calls or draw from its own generator) runs batched.
    """

    def __init__(self, batch_invariant: Any, owner: str) -> None:
        self.setting = _check_batch_invariant(batch_invariant, owner)
        self.row_by_row: bool | None = None

    def decide(self, num_envs: int, space: Any, agrees: Callable[[Any, int], bool] | None) -> bool:
        """Set and return :attr:`row_by_row` for batches of ``num_envs``; ``agrees(batch,
        seed)`` runs the model both ways on an observation batch and compares the outputs,
        torch's generator seeded with ``seed`` for the batch and ``seed + i`` for row ``i``
        alone (None: a model not to be tested)."""
        if self.setting is not None:
            verdict = self.setting
        elif num_envs == 1 or agrees is None:
            # A batch of one is what rollout() runs; a model not to be tested runs batched.
            verdict = False
        else:
            verdict = False
            try:
                for k, batch in enumerate(_probe_batches(space, num_envs)):
                    try:
                        if not agrees(batch, _PROBE_SEED + k * _PROBE_SEED_STRIDE):
                            verdict = True
                            break
                    except Exception:
                        # The test runs the model on drawn observations, and a failure there
                        # says nothing about the real ones (act() reports the model's own
                        # errors): the next batch tells. (A space of float32's whole range
                        # draws ~1e38, on which a Gaussian policy's distribution refuses NaN.)
                        continue
            except Exception:
                # Observations the space cannot draw: run batched, as without the test.
                verdict = False
        self.row_by_row = verdict
        return verdict


class _RowByRowChoice:
    """The ``batch_invariant`` setting and ``row_by_row`` choice of an adapter (its ``_rows``)."""

    _rows: _RowByRow

    @property
    def batch_invariant(self) -> bool | None:
        """The ``batch_invariant`` setting (None: the adapter's choice at each ``start``)."""
        return self._rows.setting

    @property
    def row_by_row(self) -> bool | None:
        """Whether ``act`` runs the model once per sub-env (None before ``start``)."""
        return self._rows.row_by_row


def _probe_batches(space: Any, num_envs: int) -> Iterator[Any]:
    """Batches of ``num_envs`` observations drawn with a fixed seed, batched as a vector env
    batches them (``batch_space`` builds new spaces: the caller's are untouched).

    :data:`_PROBE_BATCHES` are drawn from ``space`` and :data:`_NEAR_ZERO_BATCHES` (more:
    they are what tells) with float entries drawn around 0 at the scales
    :data:`_PROBE_SCALES` (clipped into the bounds): declared bounds are often far wider than
    the observations (a Box of +-1000 or unbounded), and a model saturated by samples at its
    bounds agrees with itself bit for bit where it would not on observations it meets.
    """
    from gymnasium.vector.utils import batch_space

    batched = batch_space(space, num_envs)
    batched.seed(_PROBE_SEED)
    rng = np.random.default_rng(_PROBE_SEED)
    # _NEAR_ZERO_BATCHES >= _PROBE_BATCHES: a near-zero batch in every round.
    for k in range(_NEAR_ZERO_BATCHES):
        if k < _PROBE_BATCHES:
            yield batched.sample()
        yield _near_zero(batched, rng, _PROBE_SCALES[k % len(_PROBE_SCALES)])


def _near_zero(space: Any, rng: np.random.Generator, scale: float) -> Any:
    """A sample of ``space`` whose float Box entries are ``N(0, scale)``, clipped into it."""
    if isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating):
        draw = rng.normal(0.0, scale, space.shape)
        return np.clip(draw, space.low, space.high).astype(space.dtype)
    if isinstance(space, gym.spaces.Dict):
        return {key: _near_zero(sub, rng, scale) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_near_zero(sub, rng, scale) for sub in space.spaces)
    return space.sample()
