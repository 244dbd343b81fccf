"""StepSequence <-> pandas DataFrame, one row per step (pandas is imported only here)."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from gymsamp.data._tree import PathStep, path_text, tree_map, tree_paths
from gymsamp.data.data_format import to_format
from gymsamp.data.spec import EnvSpec

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import RewardTask, StepSequence

_FLAGS = ("terminated", "truncated")
_LABELS = {"observations": "obs_labels", "actions": "act_labels", "states": "state_labels"}
_SPACES = {"observations": "observation_space", "actions": "action_space", "states": "state_space"}

#: The ``DataFrame.attrs`` entry where :meth:`StepSequence.to_pandas` records each leaf's
#: columns, shape, dtype and place in its field, so that :meth:`StepSequence.from_pandas` needs
#: no guessing from column names (JSON-able: it survives ``attrs``' deep copies and files that
#: keep it).
LAYOUT_ATTR = "gymsamp_layout"
_LAYOUT_VERSION = 1

# A leaf's place: its field's name, then the steps into the field's dicts and tuples.
LeafKey = tuple[Any, ...]


def _plain_names(name: str, item_shape: tuple[int, ...]) -> list[str]:
    """The columns of a field without labels: ``name`` for (T,), ``name_0..`` for wider ones."""
    if not item_shape:
        return [name]
    return [f"{name}_{i}" for i in range(int(np.prod(item_shape, dtype=np.int64)))]


def _labeled_names(
    name: str, labels: tuple[str, ...], taken: set[str], has_next: bool
) -> list[str] | None:
    """The columns of a labeled field: its labels as they are where no other column (nor any
    ``next_`` column) has their names, else ``name.label``; states always get the prefix.
    None where the labels cannot name distinct columns (they repeat)."""
    if len(set(labels)) != len(labels):
        return None

    def free(cols: list[str]) -> bool:
        wanted = cols + ([f"next_{c}" for c in cols] if has_next else [])
        return not any(c in taken for c in wanted)

    plain = list(labels)
    if name != "states" and not any(c.startswith("next_") for c in plain) and free(plain):
        return plain
    prefixed = [f"{name}.{label}" for label in labels]
    return prefixed if free(prefixed) else None


def sequence_to_frame(seq: StepSequence, env_spec: EnvSpec | None) -> Any:
    """See :meth:`StepSequence.to_pandas`."""
    import pandas as pd

    if not seq.continuous:
        raise ValueError("seq must be continuous to be written as a table, got a shuffled batch")
    if env_spec is not None and not isinstance(env_spec, EnvSpec):
        # Its labels were looked up with getattr(..., None): an env id or a Gymnasium spec
        # named no column, silently.
        raise TypeError(
            f"env_spec must be None or a gymsamp EnvSpec, got {type(env_spec).__name__} "
            f"{env_spec!r}"
        )
    # Every array leaf (path, steps, entries after each step or None), and where it came from.
    leaves: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    places: list[LeafKey] = []
    for name in seq.data_names:
        field = seq.get_data_values(name, truncate_last=True)
        nxt = seq.next_values(name) if name in seq._after_last else None
        nxt_leaves = dict(tree_paths(nxt)) if nxt is not None else {}
        for steps, leaf in tree_paths(field):
            nxt_leaf = nxt_leaves.get(steps)
            places.append((name, *steps))
            leaves.append(
                (
                    path_text(steps, name),
                    np.asarray(to_format(leaf, "numpy")),
                    None if nxt_leaf is None else np.asarray(to_format(nxt_leaf, "numpy")),
                )
            )
    # Unlabeled columns first: no label may take their names (nor the flags').
    names: dict[str, list[str]] = {}
    taken = set(_FLAGS)
    labeled = []
    for path, array, nxt_array in leaves:
        width = int(np.prod(array.shape[1:], dtype=np.int64))
        labels = getattr(env_spec, _LABELS[path], None) if path in _LABELS else None
        if labels is not None and len(labels) != width:
            # Labels of another env's spec were dropped without a word.
            raise ValueError(
                f"env_spec.{_LABELS[path]} has {len(labels)} labels but must have {width} to "
                f"match the {path} of seq (entries of shape {array.shape[1:]}), got {labels}"
            )
        if labels is not None:
            labeled.append((path, tuple(labels), array, nxt_array is not None))
            continue
        names[path] = _plain_names(path, array.shape[1:])
        taken.update(names[path])
        if nxt_array is not None:
            taken.update(f"next_{c}" for c in names[path])
    for path, labels, array, has_next in labeled:
        cols = _labeled_names(path, labels, taken, has_next) or _plain_names(path, array.shape[1:])
        names[path] = cols
        taken.update(cols)
        if has_next:
            taken.update(f"next_{c}" for c in cols)
    columns: dict[str, np.ndarray] = {}

    def put(col: str, values: np.ndarray) -> None:
        if col in columns:  # e.g. a dict field's entry "a" and a field named "infos.a"
            raise ValueError(
                f"seq's fields must have distinct column names to be written as a table, got "
                f"two columns named {col!r}"
            )
        columns[col] = values

    for path, array, nxt_array in leaves:
        flat = array.reshape(len(array), -1)
        for i, col in enumerate(names[path]):
            put(col, flat[:, i])
        if nxt_array is not None:
            flat_next = nxt_array.reshape(len(array), -1)
            for i, col in enumerate(names[path]):
                put(f"next_{col}", flat_next[:, i])
    put("terminated", seq.terminated)
    put("truncated", seq.truncated)
    df = pd.DataFrame(columns)
    layout = _layout(places, leaves, names)
    if layout is not None:
        df.attrs[LAYOUT_ATTR] = layout
    return df


def _layout(
    places: list[LeafKey],
    leaves: list[tuple[str, np.ndarray, np.ndarray | None]],
    names: dict[str, list[str]],
) -> dict[str, Any] | None:
    """The frame's layout for :data:`LAYOUT_ATTR`; None where JSON cannot hold it (dict keys
    other than str and int, structured dtypes): such frames are read by their column names."""
    entries = []
    for (field, *steps), (path, array, nxt_array) in zip(places, leaves, strict=True):
        if array.dtype.names is not None or not all(_json_key(key) for _, key in steps):
            return None
        plain = names[path] == _plain_names(path, array.shape[1:])
        entries.append(
            {
                "field": field,
                "steps": [[kind, int(key) if kind == "index" else key] for kind, key in steps],
                # None: the numbered names. pandas deep-copies attrs on every operation (even
                # df[column]), so an image's thousands of names would slow every one down.
                "columns": None if plain else names[path],
                "shape": [int(n) for n in array.shape[1:]],
                "dtype": array.dtype.str,
                "next": nxt_array is not None,
            }
        )
    return {"version": _LAYOUT_VERSION, "leaves": entries}


def _json_key(key: Any) -> bool:
    """Whether JSON keeps a dict key as it is (bools would come back as ints, numpy ints as
    Python ints: equal, but another type)."""
    return type(key) in (str, int)


def _space_columns(
    df: Any, name: str, labels: tuple[str, ...] | None, item_shape: tuple[int, ...], used: set[str]
) -> list[str]:
    """The columns of a space's leaf named ``name`` (a field, or a path like ``observations.img``
    into one); columns of an earlier leaf (``used``) are never taken.

    Prefixed labels (``actions.x``) come first: :func:`sequence_to_frame` writes them (states
    always, the others where a label names another column), so the plain ``x`` then belongs to
    another field.
    """
    width = int(np.prod(item_shape, dtype=np.int64))
    prefixed = [f"{name}.{label}" for label in labels] if labels else []
    plain = list(labels) if labels else []
    candidates = [prefixed, plain] if labels else []
    candidates += [[f"{name}_{i}" for i in range(width)], [name]]
    for cols in candidates:
        if len(cols) == width and all(c in df.columns and c not in used for c in cols):
            return cols
    # The columns to_pandas writes for this leaf.
    if labels and len(labels) == width:
        expected = plain if name != "states" else prefixed
    else:
        expected = _plain_names(name, item_shape)
    missing = [c for c in expected if c not in df.columns or c in used]
    raise ValueError(
        f"df must have the {name} columns {expected}, missing {missing}, got columns "
        f"{list(df.columns)}"
    )


def _extra_fields(df: Any, used: set[str]) -> dict[str, list[str]]:
    """Remaining columns by field: ``name_0 .. name_{k-1}`` (how to_pandas writes a 2-D field)
    become one field ``name``; any other column is a field of its own."""
    free = [c for c in df.columns if c not in used and not c.startswith("next_")]
    fields: dict[str, list[str]] = {}
    for col in free:
        base, _, index = col.rpartition("_")
        if base and index.isdigit() and f"{base}_0" in free:
            if index == "0":
                width = 0
                while f"{base}_{width}" in free:
                    width += 1
                fields[base] = [f"{base}_{i}" for i in range(width)]
            continue
        fields[col] = [col]
    return fields


# One step of a leaf path as tree_leaves writes it: ``.key`` (a dict entry) or ``[i]`` (a tuple's).
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _split_path(path: str) -> LeafKey:
    """``"infos.a[0]"`` -> ``("infos", ("key", "a"), ("index", 0))``; a name that is no such
    path stays whole (a column name cannot tell a key ``"a.b"`` from nested keys)."""
    head = re.match(r"[^.\[\]]+", path)
    if head is None:
        return (path,)
    steps: list[PathStep] = []
    pos = head.end()
    for match in _PATH_STEP.finditer(path, pos):
        if match.start() != pos:
            return (path,)
        key, index = match.groups()
        steps.append(("key", key) if key is not None else ("index", int(index)))
        pos = match.end()
    return (head.group(), *steps) if pos == len(path) else (path,)


def _assemble(flat: dict[LeafKey, Any]) -> dict[str, Any]:
    """Leaves keyed by their place (:data:`LeafKey`) regrouped into the dicts and tuples
    :meth:`StepSequence.to_pandas` flattened (NamedTuples come back as plain tuples)."""
    root: dict[PathStep, Any] = {}
    for place, value in flat.items():
        steps: list[PathStep] = [("key", place[0]), *place[1:]]
        node = root
        for depth, step in enumerate(steps):
            if depth == len(steps) - 1:
                clash = step in node
                node[step] = value
            else:
                node = node.setdefault(step, {})
                clash = not isinstance(node, dict)
            if clash:  # a leaf where entries are, or entries below a leaf
                column = path_text(tuple(steps[1 : depth + 1]), place[0])
                raise ValueError(
                    f"df must not have both a column {column!r} and columns of its entries, "
                    f"got both"
                )
    return {key: _built(child) for (_, key), child in root.items()}


def _built(node: Any) -> Any:
    """A node of :func:`_assemble`'s tree as a field: tuple positions ``0 .. k-1`` as a tuple,
    dict keys as a dict (positions among keys, or with gaps, as ``str`` keys), leaves as is."""
    if not isinstance(node, dict):
        return node
    if (
        node
        and all(kind == "index" for kind, _ in node)
        and set(node) == {("index", i) for i in range(len(node))}
    ):
        return tuple(_built(node[("index", i)]) for i in range(len(node)))
    return {
        key if kind == "key" else str(key): _built(child) for (kind, key), child in node.items()
    }


def _cuts(
    fields: dict[LeafKey, Any], next_fields: dict[LeafKey, np.ndarray], length: int
) -> np.ndarray:
    """The rows after which a rollout ends without a done flag (a rollout cut short, e.g. a
    slice): where a row's ``next_`` entries differ from the following row's entries."""
    if length < 2:  # no row follows another (reshaping zero rows to (0, -1) would fail)
        return np.zeros(0, dtype=np.intp)
    cut = np.zeros(length - 1, dtype=bool)
    for key, nxt in next_fields.items():
        after = np.asarray(nxt)[:-1].reshape(length - 1, -1)
        following = np.asarray(fields[key])[1:].reshape(length - 1, -1)
        same = after == following
        if after.dtype.kind == "f" and following.dtype.kind == "f":
            same |= np.isnan(after) & np.isnan(following)
        cut |= ~np.asarray(same, dtype=bool).all(axis=1)
    return np.flatnonzero(cut) + 1


def _layout_leaves(df: Any) -> list[dict[str, Any]] | None:
    """The leaves :data:`LAYOUT_ATTR` records where every column they name is in ``df``; None
    where there is no layout or it no longer fits (columns dropped or renamed since)."""
    layout = df.attrs.get(LAYOUT_ATTR)
    if not isinstance(layout, dict) or layout.get("version") != _LAYOUT_VERSION:
        return None
    leaves = layout.get("leaves")
    if not isinstance(leaves, list):
        return None
    present = set(df.columns)
    read = []
    for leaf in leaves:
        try:
            columns = leaf["columns"]
            if columns is None:
                columns = _plain_names(path_text(leaf["steps"], leaf["field"]), leaf["shape"])
            wanted = [*columns, *(f"next_{c}" for c in columns if leaf["next"])]
        except (KeyError, TypeError, ValueError):  # not what to_pandas wrote
            return None
        if not all(isinstance(c, str) and c in present for c in wanted):
            return None
        read.append({**leaf, "columns": columns})
    return read


class _Leaves:
    """The leaves read from a frame: their entries, the entries after each step (``next_``
    columns), and the columns used."""

    def __init__(self, df: Any) -> None:
        self.df = df
        self.fields: dict[LeafKey, Any] = {}
        self.next_fields: dict[LeafKey, np.ndarray] = {}
        self.used: set[str] = set()

    def take(
        self,
        place: LeafKey,
        cols: list[str],
        item_shape: tuple[int, ...],
        dtype: Any = None,
        *,
        with_next: bool | None = None,
    ) -> None:
        """Read ``cols`` as the leaf at ``place``, (T, *item_shape), cast to ``dtype`` if given;
        also its ``next_`` columns if ``with_next`` (None: where all of them are there)."""
        next_cols = [f"next_{c}" for c in cols]
        if with_next is None:
            with_next = all(c in self.df.columns for c in next_cols)
        self.fields[place] = self._array(cols, item_shape, dtype)
        self.used.update(cols)
        if with_next:
            self.next_fields[place] = self._array(next_cols, item_shape, dtype)
            self.used.update(next_cols)

    def _array(self, cols: list[str], item_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        values = self.df[cols].to_numpy()
        return (values if dtype is None else values.astype(dtype)).reshape(
            (len(self.df), *item_shape)
        )


def _read_by_layout(df: Any, leaves: list[dict[str, Any]], env_spec: EnvSpec) -> _Leaves:
    """Every leaf with its recorded shape and dtype (and its ``next_`` entries)."""
    read = _Leaves(df)
    for leaf in leaves:
        place = (leaf["field"], *((kind, key) for kind, key in leaf["steps"]))
        item_shape, dtype = tuple(leaf["shape"]), np.dtype(leaf["dtype"])
        read.take(place, leaf["columns"], item_shape, dtype, with_next=leaf["next"])
    for name, attr in _SPACES.items():
        expected = getattr(getattr(env_spec, attr), "shape", None)
        got = read.fields[(name,)].shape[1:] if (name,) in read.fields else None
        if got is not None and expected is not None and got != expected:
            raise ValueError(
                f"env_spec.{attr} must match the {name} df holds, got shape {tuple(expected)} "
                f"for {name} of shape {got}"
            )
    return read


def _space_tree(space: gym.Space[Any]) -> Any:
    """``space`` as a field whose leaves are its non-composite spaces (Dict spaces as dicts,
    Tuple spaces as tuples), so :func:`tree_paths` walks it as to_pandas walks the data."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _space_tree(sub) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_space_tree(sub) for sub in space.spaces)
    return space


def _field_columns(
    df: Any, name: str, space: gym.Space[Any], labels: tuple[str, ...] | None, used: set[str]
) -> list[tuple[LeafKey, list[str], tuple[int, ...], Any]]:
    """Each leaf of the field ``name`` that ``space`` shapes: its place, columns, item shape
    and dtype (float64 for a space without one).

    A Dict or Tuple space's leaves are found by the names to_pandas gives them
    (``observations.img_0``, ``observations[1]``); only a flat field has labels. Leaves
    without a fixed shape (``Text``, ...) are left to the columns no space names.

    Raises:
        ValueError: A leaf's columns are not all in ``df`` (the first such leaf is named).
    """
    found = []
    taken = set(used)
    for steps, leaf in tree_paths(_space_tree(space)):
        if leaf.shape is None:
            continue
        item_shape = tuple(leaf.shape)
        cols = _space_columns(
            df, path_text(steps, name), None if steps else labels, item_shape, taken
        )
        taken.update(cols)
        dtype = leaf.dtype if leaf.dtype is not None else np.float64
        found.append(((name, *steps), cols, item_shape, dtype))
    return found


def _read_by_names(df: Any, env_spec: EnvSpec) -> _Leaves:
    """Observations, actions and states found by the spec's labels or numbered names, every
    leaf (of Dict and Tuple spaces too) shaped and typed by its space."""
    read = _Leaves(df)
    for name, attr in _SPACES.items():
        space = getattr(env_spec, attr)
        if space is None:
            continue
        try:
            leaves = _field_columns(df, name, space, getattr(env_spec, _LABELS[name]), read.used)
        except ValueError:
            if name == "states":  # optional: a frame without all of them has no states
                continue
            raise
        for place, cols, item_shape, dtype in leaves:
            read.take(place, cols, item_shape, dtype)
    return read


def sequence_from_frame(
    cls: type[StepSequence],
    df: Any,
    env_spec: EnvSpec,
    continuous: bool,
    task: RewardTask | None,
) -> StepSequence:
    """See :meth:`StepSequence.from_pandas`."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(env_spec, EnvSpec):
        raise TypeError(f"env_spec must be a gymsamp EnvSpec, got {type(env_spec).__name__}")
    length = len(df)
    if length < 1:
        raise ValueError("df must have at least one row, got an empty DataFrame")
    layout = _layout_leaves(df)
    read = _read_by_names(df, env_spec) if layout is None else _read_by_layout(df, layout, env_spec)
    fields, next_fields, used = read.fields, read.next_fields, read.used
    flags: dict[str, Any] = {f: df[f].to_numpy().astype(bool) for f in _FLAGS if f in df.columns}
    used.update(flags)
    # The task's rewards take the rewards' place among the fields; they are computed once the
    # rollouts' bounds are known (its remaining_steps count to each rollout's end).
    if task is not None:
        fields[("rewards",)] = None
    elif ("rewards",) not in fields and "rewards" in df.columns:
        fields[("rewards",)] = df["rewards"].to_numpy()
    elif ("rewards",) not in fields:
        raise ValueError(f"df must have a 'rewards' column (or pass task), got {list(df.columns)}")
    used.add("rewards")
    # Columns no layout names (all of them without one; e.g. columns a user added).
    for name, cols in _extra_fields(df, used).items():  # 1-D as name, 2-D as name_0 ..
        place = _split_path(name)
        if not place[0].isidentifier() or place[0].startswith("_"):
            # StepSequence refused it as "name must be an identifier": an argument the caller
            # never passed (e.g. the "Unnamed: 0" index column of a CSV written by to_csv()).
            raise ValueError(
                f"df's columns must be field names (identifiers not starting with '_') or "
                f"paths into them (infos.a, hidden[0]), got a column {cols[0]!r} (drop it, or "
                f"read a CSV file's index column with index_col=0)"
            )
        read.take(place, cols, () if cols == [name] else (len(cols),))
    if ("done",) in fields and not flags:
        flags = {"terminated": fields.pop(("done",)).astype(bool)}
    # The rollouts: ending after every done row, and (from the next_ columns) wherever a row's
    # next_ entries differ from the following row's; a batch of steps is one run of rows.
    done = flags.get("terminated", np.zeros(length, bool)) | flags.get(
        "truncated", np.zeros(length, bool)
    )
    cuts = [np.flatnonzero(done) + 1, _cuts(fields, next_fields, length)] if continuous else []
    bounds = np.unique(np.concatenate([[0], *cuts, [length]]))
    if task is not None:
        # The observations and actions read, leaves no space shapes (a Text space's) included:
        # those come from the columns read by name above, and the task never saw them.
        task_inputs = {k: v for k, v in fields.items() if k[0] in ("observations", "actions")}
        fields[("rewards",)] = _task_rewards(task, task_inputs, bounds)
    if not continuous or not next_fields:
        return cls(continuous=continuous, **flags, **_assemble(fields))
    # Rebuild rollout by rollout so each keeps its own final entry from the next_ columns.
    parts = []
    for start, stop in itertools.pairwise(bounds):
        part: dict[LeafKey, Any] = {key: value[start:stop] for key, value in fields.items()}
        for key, nxt in next_fields.items():
            part[key] = np.concatenate([part[key], nxt[stop - 1 : stop]])
        part_flags: dict[str, Any] = {key: value[start:stop] for key, value in flags.items()}
        parts.append(cls(**part_flags, **_assemble(part)))
    return parts[0] if len(parts) == 1 else cls.concat(parts)


def _task_rewards(task: RewardTask, inputs: dict[LeafKey, Any], bounds: np.ndarray) -> np.ndarray:
    """``task.step_rew(observation, action, remaining_steps)`` for every row, with the steps
    left in the row's rollout (``inputs``: the observation and action leaves; ``bounds``: the
    rollouts' first rows, then the row count)."""
    given = _assemble(inputs)
    if "observations" not in given or "actions" not in given:
        raise ValueError(
            f"df must have observation and action columns for task to compute rewards, got "
            f"{sorted(given)}"
        )
    obs, act = given["observations"], given["actions"]
    return np.array(
        [
            task.step_rew(
                tree_map(lambda a, t=t: a[t], obs),
                tree_map(lambda a, t=t: a[t], act),
                int(stop) - t - 1,
            )
            for start, stop in itertools.pairwise(bounds)
            for t in range(start, stop)
        ],
        dtype=np.float64,
    )
