import copy
import pickle
import re
import tracemalloc
from collections import namedtuple
from typing import ClassVar

import numpy as np
import pytest
import torch

from gymsamp.data import (
    DictIndexProxy,
    Step,
    StepSequence,
    StepType,
    discounted_value,
    gen_shuffled_batch_idcs,
    step_types_from_flags,
)
from tests.helpers import assert_sequences_equal, assert_tree_equal

Hidden = namedtuple("Hidden", "h c")


def make_rollout(length, *, seed=0, end="timeout", info=None, offset=0.0):
    """A rollout with T+1 observations that encode (rollout offset + step index)."""
    rng = np.random.default_rng(seed)
    obs = offset + np.arange(length + 1, dtype=np.float64)[:, None] * np.ones(3)
    term = np.zeros(length, bool)
    trunc = np.zeros(length, bool)
    if end == "terminal":
        term[-1] = True
    elif end == "timeout":
        trunc[-1] = True
    return StepSequence(
        rewards=rng.normal(size=length),
        observations=obs,
        actions=rng.integers(0, 2, size=length),
        terminated=term,
        truncated=trunc,
        rollout_info=info,
        infos=[{"x": float(t), "nested": {"y": t}} for t in range(length)],
        hidden=Hidden(rng.normal(size=(length, 2)), rng.normal(size=(length, 2))),
    )


@pytest.fixture
def parts():
    return [
        make_rollout(3, seed=1, end="terminal", info={"i": 0}, offset=0.0),
        make_rollout(5, seed=2, end="timeout", info={"i": 1}, offset=100.0),
        make_rollout(2, seed=3, end="none", info={"i": 2}, offset=200.0),
    ]


class TestConstruction:
    def test_lists_are_stacked_and_shapes_follow_time_alignment(self):
        ro = make_rollout(4)
        assert len(ro) == ro.length == 4
        assert ro.observations.shape == (5, 3)
        assert ro.actions.shape == (4,)
        assert ro.infos["nested"]["y"].tolist() == [0, 1, 2, 3]
        assert isinstance(ro.hidden, Hidden)
        assert ro.hidden.h.shape == (4, 2)
        assert ro.step_types.tolist() == [0, 1, 1, 3]
        assert ro.rollout_count == 1
        assert ro.data_format == "numpy"

    def test_no_flags_means_complete_rollout_ends_terminated(self):
        ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0])
        assert ro.terminated.tolist() == [False, True]
        assert ro.truncated.tolist() == [False, False]
        partial = StepSequence(
            rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0], complete=False
        )
        assert partial.done.tolist() == [False, False]
        assert partial.rollout_bounds.tolist() == [0, 2]

    def test_batch_built_non_continuous_has_no_first_step(self):
        batch = StepSequence(
            rewards=[1.0, 2.0, 3.0], observations=[0, 1, 2], actions=[0, 0, 0], continuous=False
        )
        assert batch.step_types.tolist() == [1, 1, 1]
        batch = StepSequence(
            rewards=[1.0, 2.0],
            observations=[0, 1],
            actions=[0, 0],
            continuous=False,
            truncated=[True, False],
        )
        assert batch.step_types.tolist() == [3, 1]

    def test_done_maps_to_terminated_and_must_agree_with_flags(self):
        ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0], done=[0, 1])
        assert ro.terminated.tolist() == [False, True]
        # done is terminated OR truncated: a step with both flags set ends the episode too.
        both = StepSequence(
            rewards=[1.0, 2.0],
            observations=[0, 1, 2],
            actions=[0, 0],
            terminated=[False, True],
            truncated=[False, True],
        )
        assert both.done.tolist() == [False, True]
        with pytest.raises(ValueError, match="done must equal terminated | truncated"):
            StepSequence(
                rewards=[1.0, 2.0],
                observations=[0, 1, 2],
                actions=[0, 0],
                done=[0, 0],
                truncated=[0, 1],
            )

    def test_actions_must_have_exactly_one_entry_per_step(self):
        # The seed: "actions ... the length must be len(rewards)"; there is no action after
        # the last step, so T+1 actions are refused instead of stored as an after-last field.
        with pytest.raises(ValueError, match=r"actions has 3 entries but must have 2 to match"):
            StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 1, 2])
        ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=(0, 1))
        assert ro.actions.tolist() == [0, 1]

    def test_field_length_errors(self):
        with pytest.raises(ValueError, match="observations has 5 entries but must have 2 or 3"):
            StepSequence(rewards=[1.0, 2.0], observations=np.zeros(5), actions=[0, 0])
        with pytest.raises(ValueError, match="rewards must have shape"):
            StepSequence(rewards=np.zeros((2, 1)), observations=np.zeros(3), actions=[0, 0])
        with pytest.raises(ValueError, match="at least one step"):
            StepSequence(rewards=np.zeros(0), observations=np.zeros(1), actions=np.zeros(0))
        with pytest.raises(ValueError, match=r"terminated has shape \(3,\) but must have \(2,\)"):
            StepSequence(
                rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0], terminated=[0, 0, 1]
            )

    def test_grad_tensors_are_rejected(self):
        with pytest.raises(ValueError, match="observations must not require grad"):
            StepSequence(
                rewards=torch.zeros(2),
                observations=torch.zeros(3, requires_grad=True),
                actions=torch.zeros(2),
            )

    def test_grad_tensors_are_rejected_in_numpy_format_too(self):
        # Converting to numpy detached them silently (add_data on a sampled, numpy rollout,
        # e.g. a critic's values computed outside no_grad), where torch format refused them.
        grad = torch.ones(2, requires_grad=True)
        ro = StepSequence(rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0])
        with pytest.raises(ValueError, match="values must not require grad"):
            ro.add_data("values", grad)
        with pytest.raises(ValueError, match=r"infos\.v must not require grad"):
            ro.add_data("infos", [{"v": grad[0]}, {"v": grad[1]}])
        with pytest.raises(ValueError, match=r"hidden\[1\] must not require grad"):
            ro.add_data("hidden", [(np.zeros(2), grad), (np.zeros(2), grad)])
        assert ro.data_names == ["rewards", "observations", "actions"]
        with pytest.raises(ValueError, match="rewards must not require grad"):
            StepSequence(
                rewards=grad, observations=np.zeros(3), actions=[0, 0], data_format="numpy"
            )
        # Detached tensors are converted as before.
        ro.add_data("values", grad.detach() * 2)
        assert isinstance(ro.values, np.ndarray)
        assert ro.values.tolist() == [2.0, 2.0]

    def test_grad_tensors_after_other_entries_or_in_object_arrays_are_rejected(self):
        # Lists were judged by their first entry: a tensor after a number or an array was
        # detached silently when stacked to numpy, and an object array kept the tensor itself
        # (with its graph) in a numpy rollout.
        grad = torch.ones(2, requires_grad=True)
        ro = StepSequence(rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0])
        with pytest.raises(ValueError, match="values must not require grad"):
            ro.add_data("values", [0.0, grad[1]])
        with pytest.raises(ValueError, match="values must not require grad"):
            ro.add_data("values", [np.zeros(2), grad])
        with pytest.raises(ValueError, match=r"infos\.v must not require grad"):
            ro.add_data("infos", {"v": [1.0, grad[0]]})
        held = np.empty(2, dtype=object)
        held[0], held[1] = {"v": 1.0}, {"v": grad[0]}
        with pytest.raises(ValueError, match=r"infos\.v must not require grad"):
            ro.add_data("infos", held)
        with pytest.raises(ValueError, match="rewards must not require grad"):
            StepSequence(rewards=[0.0, grad[0]], observations=np.zeros(3), actions=[0, 0])
        assert ro.data_names == ["rewards", "observations", "actions"]
        # Detached tensors among numbers are stacked as before, and object arrays kept.
        ro.add_data("values", [0.0, grad[1].detach()])
        assert ro.values.tolist() == [0.0, 1.0]
        held[1] = {"v": 2.0}
        ro.add_data("infos", held)
        assert ro.infos[1] == {"v": 2.0}

    def test_numpy_sequences_never_import_torch(self):
        # The gradient check walks fields only once torch is loaded: none can hold a tensor
        # before, and import gymsamp stays light for numpy-only users.
        import subprocess
        import sys

        code = (
            "import sys, numpy as np\n"
            "from gymsamp.data import StepSequence\n"
            "ro = StepSequence(rewards=[1.0, 2.0], observations=[[0.0], [1.0], [2.0]],\n"
            "                  actions=[0, 1], infos={'v': [3.0, 4.0]}, hidden=([1, 2], [3, 4]))\n"
            "ro.add_data('values', [0.5, 0.25])\n"
            "assert StepSequence.concat([ro, ro]).values.tolist() == [0.5, 0.25] * 2\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

    def test_grad_tensors_in_generators_and_other_iterables_are_rejected(self):
        # Only lists were walked: a generator or deque of tensors was stacked to numpy (and
        # detached) without a word in a numpy rollout.
        from collections import deque

        grad = torch.ones(2, requires_grad=True)
        ro = StepSequence(rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0])
        with pytest.raises(ValueError, match="values must not require grad"):
            ro.add_data("values", (g for g in [grad[0], grad[1]]))
        with pytest.raises(ValueError, match="values must not require grad"):
            ro.add_data("values", deque([grad[0], grad[1]]))
        with pytest.raises(ValueError, match=r"infos\.v must not require grad"):
            ro.add_data("infos", {"v": iter([grad[0], grad[1]])})
        assert ro.data_names == ["rewards", "observations", "actions"]
        # A generator of plain values is still stacked, every step of it.
        ro.add_data("values", (float(t) for t in range(2)))
        ro.add_data("costs", deque([3.0, 4.0]))
        assert ro.values.tolist() == [0.0, 1.0]
        assert ro.costs.tolist() == [3.0, 4.0]

    def test_rewards_must_be_a_non_empty_sequence_of_real_numbers(self):
        with pytest.raises(TypeError, match=r"rewards must be a list, array or tensor .*got 1.0"):
            StepSequence(rewards=1.0, observations=[0, 1], actions=[0])
        with pytest.raises(ValueError, match="rewards must hold at least one step, got 0"):
            StepSequence(rewards=[], observations=[0], actions=[])
        with pytest.raises(TypeError, match="rewards must be real numbers, got dtype <U1"):
            StepSequence(rewards=["a", "b"], observations=[0, 1, 2], actions=[0, 0])
        with pytest.raises(TypeError, match="rewards must be real numbers, got a dict"):
            StepSequence(rewards=[{"r": 1.0}], observations=[0, 1], actions=[0])
        # A tuple of rewards is rewards, not a tuple field.
        ro = StepSequence(rewards=(1.0, 2.0), observations=[0, 1, 2], actions=[0, 0])
        np.testing.assert_array_equal(ro.rewards, np.array([1.0, 2.0]))

    def test_none_is_refused_for_constructor_fields(self):
        # Only add_data documents None (zeros of item_shape); the constructor never invents data.
        with pytest.raises(TypeError, match="observations must be per-step values .*got None"):
            StepSequence(rewards=[1.0], observations=None, actions=[0])
        with pytest.raises(TypeError, match="values must be per-step values .*got None"):
            StepSequence(rewards=[1.0], observations=[0, 1], actions=[0], values=None)

    def test_torch_data_format_is_inferred(self):
        ro = StepSequence(rewards=torch.zeros(2), observations=np.zeros(3), actions=[0, 1])
        assert ro.data_format == "torch"
        # Per-step lists of tensors count too (the seed: "Tensors if any data argument does"),
        # also inside dicts; they were stored as numpy.
        listed = StepSequence(
            rewards=[1.0, 2.0],
            observations={"pos": [torch.full((2,), float(t)) for t in range(3)]},
            actions=[0, 1],
        )
        assert listed.data_format == "torch"
        assert isinstance(listed.observations["pos"], torch.Tensor)
        assert listed.observations["pos"][:, 0].tolist() == [0.0, 1.0, 2.0]
        # ... so tensors tracing gradients in such lists are refused, not silently detached.
        w = torch.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="observations must not require grad"):
            StepSequence(rewards=[1.0] * 3, observations=[w * i for i in range(4)], actions=[0] * 3)
        assert isinstance(ro.observations, torch.Tensor)
        ro.numpy()
        assert isinstance(ro.observations, np.ndarray)
        assert ro.actions.tolist() == [0, 1]

    def test_rollout_bounds_pin(self):
        ro = StepSequence(
            rewards=np.arange(20.0),
            observations=np.arange(21.0),
            actions=np.zeros(20),
            rollout_bounds=[0, 4, 11, 17, 20],
        )
        assert ro.rollout_count == 4
        assert ro.rollout_lengths.tolist() == [4, 7, 6, 3]
        assert ro.get_rollout(1).rewards.tolist() == list(range(4, 11))
        middle = ro.get_rollout(slice(1, -1))
        assert middle.rewards.tolist() == list(range(4, 17))
        assert middle.rollout_lengths.tolist() == [7, 6]
        picked = ro.get_rollout([1, 3])
        assert picked.rewards.tolist() == [*range(4, 11), *range(17, 20)]
        assert picked.rollout_lengths.tolist() == [7, 3]
        # Given flat, only the last rollout's final observation is known: never invented.
        assert ro.get_rollout(-1).observations.tolist() == [17.0, 18.0, 19.0, 20.0]
        assert ro.get_rollout(0).observations.tolist() == [0.0, 1.0, 2.0, 3.0]

    def test_bad_rollout_bounds(self):
        with pytest.raises(ValueError, match="rollout_bounds must be strictly increasing"):
            StepSequence(
                rewards=np.zeros(4),
                observations=np.zeros(5),
                actions=np.zeros(4),
                rollout_bounds=[0, 3, 2, 4],
            )
        with pytest.raises(ValueError, match="must include the end of every done step"):
            StepSequence(
                rewards=np.zeros(4),
                observations=np.zeros(5),
                actions=np.zeros(4),
                terminated=[1, 0, 0, 1],
                rollout_bounds=[0, 4],
            )

    def test_rollout_info_is_one_per_rollout_or_one_shared_object(self):
        def three_rollouts(info):
            return StepSequence(
                rewards=np.zeros(6),
                observations=np.zeros(7),
                actions=np.zeros(6),
                terminated=[0, 1, 0, 1, 0, 1],
                rollout_info=info,
            )

        infos = [{"seed": 1}, {"seed": 2}, {"seed": 3}]
        assert three_rollouts(infos).rollout_infos == infos
        assert three_rollouts({"seed": 1}).rollout_infos == [{"seed": 1}] * 3
        # A list of the wrong length was shared: every rollout's info became the whole list.
        for wrong in (infos[:2], [*infos, {"seed": 4}]):
            with pytest.raises(
                ValueError,
                match=rf"^rollout_info has {len(wrong)} entries but must have 3 to match the "
                r"number of rollouts \(one entry per rollout, or pass one object to share it\)$",
            ):
                three_rollouts(wrong)

    def test_discounted_value_pin_through_add_data(self):
        ro = StepSequence(
            rewards=[-200.0, -100.0, -50.0, -25.0, -17.5],
            observations=np.zeros((6, 2)),
            actions=np.zeros((5, 1)),
        )
        ro.add_data("return", discounted_value(ro, 0.9))
        assert ro[2]["return"] == pytest.approx(-86.675)
        assert ro.undiscounted_return() == pytest.approx(-392.5)
        assert ro.discounted_return(0.9) == pytest.approx(
            sum(0.9**t * r for t, r in enumerate([-200, -100, -50, -25, -17.5]))
        )

    def test_discounted_return_of_several_rollouts_restarts_t_at_each(self):
        a, b = make_rollout(3), make_rollout(4)
        both = StepSequence.concat([a, b])
        expected = sum(0.5**t * r for ro in (a, b) for t, r in enumerate(ro.rewards))
        assert both.discounted_return(0.5) == pytest.approx(expected, rel=1e-12)

    def test_discounted_return_refuses_a_shuffled_batch(self):
        # It discounted unrelated steps in shuffled order as if they were one rollout.
        both = StepSequence.concat([make_rollout(3), make_rollout(4)])
        batch = next(both.split_shuffled_batches(5, seed=0))
        with pytest.raises(ValueError, match="discounted_return needs a continuous sequence"):
            batch.discounted_return(0.5)

    def test_add_data_zeros_and_errors(self):
        ro = make_rollout(3)
        ro.add_data("values", item_shape=(2,), with_after_last=True)
        assert ro.values.shape == (4, 2)
        assert ro[3 - 1].next_value.tolist() == [0.0, 0.0]
        with pytest.raises(ValueError, match="already exists"):
            ro.add_data("values", np.zeros(3))
        with pytest.raises(ValueError, match="must have 3 or 4 to match rewards"):
            ro.add_data("bad", np.zeros(7))

    def test_get_data_values_truncate_last_must_be_a_bool(self):
        # truncate_last="no" truncated (a truthy str), unlike every other flag of the API.
        ro = make_rollout(3)
        assert len(ro.get_data_values("observations", truncate_last=np.True_)) == 3
        assert len(ro.get_data_values("observations", truncate_last=False)) == 4
        for bad in ("no", 1, None):
            with pytest.raises(TypeError, match="truncate_last must be a bool"):
                ro.get_data_values("observations", truncate_last=bad)

    @pytest.mark.parametrize(
        "name", ["length", "count", "index", "numpy", "rollout_lengths", "pad"]
    )
    def test_a_field_named_like_an_attribute_is_refused(self, name):
        # Such a field was stored but hidden: ro.length stayed the step count (3, not the
        # field) and ro.count Sequence.count, silently.
        ro = make_rollout(3)
        match = rf"name must not be an attribute of StepSequence \(ro.{name} would read the "
        with pytest.raises(ValueError, match=match + rf".*got '{name}'"):
            ro.add_data(name, np.arange(3))
        assert name not in ro.data_names
        with pytest.raises(ValueError, match=match):
            StepSequence(rewards=[1.0], observations=[0, 1], actions=[0], **{name: [7]})
        assert ro.length == 3


class TestSteps:
    def test_singular_plural_next_and_flags(self):
        ro = make_rollout(3, end="terminal")
        step = ro[1]
        assert step.reward == ro.rewards[1]
        assert step.observation.tolist() == [1.0, 1.0, 1.0]
        assert step.next_observation.tolist() == [2.0, 2.0, 2.0]
        assert step.infos.nested.y == 1
        assert step.hidden.h.tolist() == ro.hidden.h[1].tolist()
        assert ro[-1].step_type == StepType.TERMINAL
        assert bool(ro[-1].done)
        assert bool(ro[-1].terminated)
        assert not ro[-1].truncated
        assert ro[-1].next_observation.tolist() == [3.0, 3.0, 3.0]

    def test_next_never_crosses_into_the_next_rollout(self, parts):
        seq = StepSequence.concat(parts)
        last_of_first = seq[2]
        assert last_of_first.next_observation.tolist() == [3.0, 3.0, 3.0]  # its true final obs
        assert seq[3].observation.tolist() == [100.0, 100.0, 100.0]

    def test_next_of_rollouts_given_flat_names_the_flat_field(self):
        # The constructor's flat rollouts were told their field "was added to a sequence" and
        # to add it to each rollout, which they never had; the advice now covers both ways.
        flat = StepSequence(
            rewards=np.arange(4.0), observations=np.arange(5.0), actions=np.zeros(4),
            terminated=[0, 1, 0, 1],
        )  # fmt: skip
        match = (
            r"the final observations of rollout 0 is unknown: observations was given flat for "
            r"all 2 rollouts \(to the constructor, or to add_data after they were joined\).*"
            r"StepSequence.concat them"
        )
        with pytest.raises(AttributeError, match=match):
            _ = flat[1].next_observation
        with pytest.raises(ValueError, match=match):
            flat.next_values("observations")
        # Inside a rollout, and at the last rollout's end, the next entries are known.
        assert flat[0].next_observation == 1.0
        assert flat[3].next_observation == 4.0
        # A slice across the boundary keeps the entry after it, from the second rollout.
        assert flat[1:3].observations.tolist() == [1.0, 2.0, 3.0]

    def test_next_of_a_non_continuous_sequence_raises(self):
        batch = StepSequence(
            rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0], continuous=False
        )
        with pytest.raises(AttributeError, match="next_ access needs a continuous sequence"):
            _ = batch[0].next_observation
        with pytest.raises(ValueError, match="next_values needs a continuous sequence"):
            batch.next_values("observations")

    def test_write_through_and_errors(self):
        ro = make_rollout(3)
        ro[0].reward = 42.0
        assert ro.rewards[0] == 42.0
        with pytest.raises(AttributeError, match="No entry named missing"):
            _ = ro[0].missing
        with pytest.raises(KeyError):
            _ = ro[0]["missing"]
        with pytest.raises(AttributeError, match="next_action needs a field"):
            _ = ro[0].next_action
        with pytest.raises(IndexError):
            ro[3]
        with pytest.raises(
            ValueError, match=r"observations must be set to a value of shape \(3,\)"
        ):
            ro[0].observations = np.zeros(4)
        assert ro.observations[0].tolist() == [0.0, 0.0, 0.0]

    def test_step_refuses_writes_to_flags_and_derived_values(self):
        ro = make_rollout(3, end="terminal")
        before = (ro.terminated.copy(), ro.truncated.copy(), ro.observations.copy())
        cases = [
            ("terminated", "it fixes where the rollout ends; build a new StepSequence"),
            ("truncated", "it fixes where the rollout ends"),
            ("done", "it is terminated \\| truncated; build a new StepSequence"),
            ("step_type", "it is derived from terminated, truncated"),
            ("next_observation", "it reads the observation entry after this step; set observation"),
        ]
        for name, message in cases:
            # 'a' was written into the flag arrays as True: a TERMINAL step inside a rollout.
            with pytest.raises(AttributeError, match=f"Step.{name} is read-only: {message}"):
                setattr(ro[0], name, "a")
            with pytest.raises(TypeError, match=f"Step.{name} is read-only"):
                ro[0][name] = True
        # A next_ name that no read knows gets the read's error, not the read-only one.
        with pytest.raises(AttributeError, match="next_action needs a field"):
            ro[0].next_action = 1
        for array, old in zip((ro.terminated, ro.truncated, ro.observations), before, strict=True):
            np.testing.assert_array_equal(array, old)
        assert ro.step_types.tolist() == [0, 1, 2]
        # Data fields still write through.
        ro[1].reward = 7.0
        assert ro.rewards[1] == 7.0

    def test_step_checks_its_index_like_indexing_does(self):
        ro = make_rollout(3, end="terminal")
        with pytest.raises(IndexError, match=r"index must be in \[-3, 3\), got 7") as by_index:
            ro[7]
        with pytest.raises(IndexError, match=r"index must be in \[-3, 3\), got 7") as by_step:
            Step(ro, 7)
        assert str(by_step.value) == str(by_index.value)
        with pytest.raises(TypeError, match="index must be an int, got 'a'"):
            Step(ro, "a")
        # Negative indices count from the end, for next_ access too.
        last = Step(ro, -1)
        assert last.observation.tolist() == [2.0, 2.0, 2.0]
        assert last.next_observation.tolist() == [3.0, 3.0, 3.0]
        assert Step(ro, np.int64(1)).observation.tolist() == [1.0, 1.0, 1.0]

    def test_iteration_yields_steps(self):
        ro = make_rollout(3)
        assert [float(s.reward) for s in ro] == ro.rewards.tolist()

    @pytest.mark.parametrize(
        "roundtrip",
        [copy.copy, copy.deepcopy, lambda p: pickle.loads(pickle.dumps(p))],
        ids=["copy", "deepcopy", "pickle"],
    )
    def test_proxies_copy_and_pickle(self, roundtrip):
        # A nested proxy (a dict field of a step) died in RecursionError: the rebuilt object's
        # empty slots were looked up as entries.
        ro = make_rollout(3)
        nested = roundtrip(ro[1].infos)
        assert isinstance(nested, DictIndexProxy)
        assert nested.nested.y == 1
        with pytest.raises(AttributeError, match=r"No entry named infos\.missing"):
            _ = nested.missing  # its path survives for messages
        plain = roundtrip(DictIndexProxy({"x": np.arange(3)}, 1))
        assert plain.x == 1
        step = roundtrip(ro[2])
        assert step.observation.tolist() == [2.0, 2.0, 2.0]

    def test_keys_are_names_membership_and_no_iteration(self):
        # `in` and iteration fell back to __getitem__(0): "'int' object has no attribute
        # 'startswith'" from deep inside.
        step = make_rollout(3, end="terminal")[0]
        for name in ("rewards", "reward", "next_observation", "terminated"):  # flags too
            assert name in step
        for name in ("missing", 0, "next_action"):
            assert name not in step
        with pytest.raises(TypeError, match=r"key must be a str naming an entry .*got 0 \(int\)"):
            step[0]
        with pytest.raises(TypeError, match="key must be a str naming an entry"):
            step[0] = 1.0
        with pytest.raises(TypeError, match="'Step' object is not iterable"):
            list(step)

    def test_dict_index_proxy_checks_its_arguments_and_names_the_entry_out_of_range(self):
        # None failed at the first read with "argument of type 'NoneType' is not iterable",
        # and an index past an entry with numpy's or Python's own IndexError.
        for bad in (None, [1, 2]):
            with pytest.raises(TypeError, match=r"^obj must be a dict of per-step data .*got "):
                DictIndexProxy(bad, 0)
        for bad in ("x", 1.0, slice(0, 2), True):
            with pytest.raises(TypeError, match=r"^index must be an int, got "):
                DictIndexProxy({"x": np.arange(3)}, bad)
        with pytest.raises(TypeError, match=r"^path must be None or a str, got int$"):
            DictIndexProxy({"x": np.arange(3)}, 0, path=1)
        data = {"x": np.arange(3), "l": [1, 2, 3], "t": torch.arange(3), "d": {"y": np.arange(2)}}
        proxy = DictIndexProxy(data, 2)
        for key in ("x", "l", "t"):
            with pytest.raises(IndexError, match=rf"^index must be in \[-3, 3\) for entry {key} "):
                _ = DictIndexProxy(data, 3)[key]
        with pytest.raises(
            IndexError, match=r"^index must be in \[-2, 2\) for entry d\.y .*got 2$"
        ):
            _ = proxy.d.y  # entries may differ in length: checked per entry
        with pytest.raises(IndexError, match=r"^index must be in \[-3, 3\) for entry x .*got -4$"):
            DictIndexProxy(data, -4).x = 7
        assert (proxy.x, proxy["l"], int(proxy.t), DictIndexProxy(data, np.int64(-1)).x) == (
            2,
            3,
            2,
            2,
        )
        np.testing.assert_array_equal(data["x"], [0, 1, 2])  # the refused write changed nothing

    def test_dict_index_proxy_names_entries_it_cannot_index_or_write(self):
        class Unsized:  # indexable, no len(): the message cannot give the entry's size
            def __getitem__(self, index):
                raise IndexError(index)

        proxy = DictIndexProxy({"n": 3, "u": Unsized(), "d": {"y": np.arange(2)}, "t": (1,)}, 5)
        with pytest.raises(AttributeError, match=r"^Entry n has un-indexable type int$"):
            _ = proxy.n
        with pytest.raises(KeyError, match=r"Entry n has un-indexable type int"):
            _ = proxy["n"]
        with pytest.raises(IndexError, match=r"^index 5 is out of range for entry u$"):
            _ = proxy.u
        with pytest.raises(AttributeError, match=r"^Entry d is a dict; set its items$"):
            proxy.d = 1
        with pytest.raises(KeyError, match=r"Entry t is a tuple; set its items"):
            proxy["t"] = 1
        assert repr(proxy) == "DictIndexProxy(index=5, keys=['d', 'n', 't', 'u'])"
        assert {"d", "n", "t", "u"} <= set(dir(proxy))

    def test_next_values_of_dict_and_tuple_fields_keep_their_structure(self):
        ro = StepSequence(
            rewards=[0.0, 1.0],
            observations={"x": np.arange(3.0), "y": 2 * np.arange(3)},
            actions=[0, 1],
            hidden=Hidden(np.arange(3.0), np.arange(3.0) + 10),
        )
        nxt = ro[1].next_observation
        assert isinstance(nxt, DictIndexProxy)
        assert (nxt.x, nxt["y"]) == (2.0, 4)
        assert ro[0].next_hidden == Hidden(1.0, 11.0)
        assert type(ro[0].next_hidden) is Hidden


class TestConcatAndRollouts:
    def test_concat_keeps_every_final_observation_and_info(self, parts):
        seq = StepSequence.concat(parts)
        assert seq.length == 10
        assert seq.rollout_bounds.tolist() == [0, 3, 8, 10]
        assert seq.observations.shape == (11, 3)
        assert seq.rollout_info == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert seq.step_types.tolist() == [0, 1, 2, 0, 1, 1, 1, 3, 0, 1]
        for part, got in zip(parts, seq.iterate_rollouts(), strict=True):
            assert_sequences_equal(part, got)

    def test_get_rollout_variants(self, parts):
        seq = StepSequence.concat(parts)
        assert_sequences_equal(seq.get_rollout(-2), parts[1])
        assert_sequences_equal(seq.get_rollout([0, 2]), StepSequence.concat([parts[0], parts[2]]))
        assert_sequences_equal(seq.get_rollout(slice(1, None)), StepSequence.concat(parts[1:]))
        with pytest.raises(IndexError):
            seq.get_rollout(3)

    def test_get_rollout_refuses_what_is_no_rollout_index(self, parts):
        seq = StepSequence.concat(parts)
        for bad in ("a", 1.0, None, True, [1.0], [True, False]):
            with pytest.raises(
                TypeError, match=r"index must be an int, a slice or a list of ints, got"
            ):
                seq.get_rollout(bad)
        # numpy integers (scalars and arrays) are indices.
        assert seq.get_rollout(np.int64(1)).rewards.tolist() == parts[1].rewards.tolist()
        picked = seq.get_rollout(np.array([2, 0]))
        assert picked.rollout_lengths.tolist() == [2, 3]
        assert picked.observations[:, 0].tolist() == [200.0, 201.0, 0.0, 1.0, 2.0, 3.0]

    @pytest.mark.parametrize("index", [np.array(1), torch.tensor(1)], ids=["numpy", "torch"])
    def test_get_rollout_refuses_a_0d_array(self, parts, index):
        # Was numpy's / torch's "iteration over a 0-d array" from deep inside.
        seq = StepSequence.concat(parts)
        with pytest.raises(
            TypeError, match=r"index must be an int, a slice or a list of ints, got .*\(1\)"
        ):
            seq.get_rollout(index)

    def test_concat_of_one_object_twice_equals_concat_of_copies(self):
        ro = StepSequence(rewards=[1.0, 1.0], observations=[10.0, 11.0, 12.0], actions=[0, 0])
        twice = StepSequence.concat([ro, ro])
        assert_sequences_equal(twice, StepSequence.concat([ro, copy.copy(ro)]))
        np.testing.assert_array_equal(twice.observations, [10.0, 11.0, 10.0, 11.0, 12.0])
        assert twice[2].observation == 10.0
        np.testing.assert_array_equal(twice.get_rollout(1).observations, [10.0, 11.0, 12.0])
        np.testing.assert_array_equal(twice.next_values("observations"), [11.0, 12.0] * 2)
        # A concatenation repeated in turn: four whole rollouts, each with its final entry.
        four = StepSequence.concat([twice, twice])
        assert_sequences_equal(four, StepSequence.concat([copy.copy(ro) for _ in range(4)]))
        np.testing.assert_array_equal(four.observations, [10.0, 11.0] * 4 + [12.0])
        assert four.rollout_bounds.tolist() == [0, 2, 4, 6, 8]
        for rollout in four.iterate_rollouts():
            np.testing.assert_array_equal(rollout.observations, [10.0, 11.0, 12.0])

    def test_concat_of_concat_is_flat(self, parts):
        nested = StepSequence.concat([StepSequence.concat(parts[:2]), parts[2]])
        assert_sequences_equal(nested, StepSequence.concat(parts))

    def test_concat_errors(self, parts):
        with pytest.raises(ValueError, match="at least one"):
            StepSequence.concat([])
        with pytest.raises(ValueError, match="truncate_last must be True"):
            StepSequence.concat(parts, truncate_last=False)
        other = StepSequence(rewards=[1.0], observations=[0, 1], actions=[0])
        with pytest.raises(ValueError, match=r"parts\[1\] has the fields"):
            StepSequence.concat([parts[0], other])

    def test_concat_mixed_formats_becomes_torch(self, parts):
        torch_part = make_rollout(2, seed=9).torch()
        seq = StepSequence.concat([parts[0], torch_part])
        assert seq.data_format == "torch"
        assert isinstance(seq.get_rollout(0).observations, torch.Tensor)
        assert seq.get_rollout(1).observations[-1].tolist() == [2.0, 2.0, 2.0]

    def test_slices_keep_the_entry_after_the_slice(self, parts):
        seq = StepSequence.concat(parts)
        sub = seq[2:5]
        assert sub.rollout_bounds.tolist() == [0, 1, 3]
        assert sub.observations[:, 0].tolist() == [2.0, 100.0, 101.0, 102.0]
        assert sub.get_rollout(0).observations[:, 0].tolist() == [2.0, 3.0]
        assert sub.done.tolist() == [True, False, False]
        assert sub.rollout_info == [{"i": 0}, {"i": 1}]
        # A slice over several whole rollouts keeps each one's own final observation (offset +
        # length), also for the rollouts in its middle, whether it starts at a bound or not.
        for start in (0, 1):
            finals = [ro.observations[-1, 0] for ro in seq[start:10].iterate_rollouts()]
            assert finals == [3.0, 105.0, 202.0]

    def test_index_lists_and_masks_give_non_continuous_batches(self, parts):
        seq = StepSequence.concat(parts)
        batch = seq[[0, 3, 9]]
        assert not batch.continuous
        assert batch.observations[:, 0].tolist() == [0.0, 100.0, 201.0]
        assert batch.step_types.tolist() == [0, 0, 1]
        mask = np.zeros(10, bool)
        mask[[1, 2]] = True
        assert seq[mask].rewards.tolist() == seq.rewards[1:3].tolist()
        # Negative indices count from the end, -1 included.
        assert seq[[0, -1]].observations[:, 0].tolist() == [0.0, 201.0]
        assert seq[[-10, -2]].observations[:, 0].tolist() == [0.0, 200.0]
        with pytest.raises(ValueError, match="needs a continuous sequence"):
            batch.get_rollout(0)


class TestBatches:
    def test_ordered_batches(self, parts):
        seq = StepSequence.concat(parts)
        sizes = [len(b) for b in seq.split_ordered_batches(batch_size=4)]
        assert sizes == [4, 4, 2]
        sizes = [len(b) for b in seq.split_ordered_batches(num_batches=4)]
        assert sizes == [3, 3, 2, 2]
        assert [len(b) for b in seq.split_ordered_batches(num_batches=10)] == [1] * 10
        # More batches than steps silently gave fewer batches than asked for.
        with pytest.raises(
            ValueError, match=r"^num_batches must be at most the number of steps 10, got 11$"
        ):
            seq.split_ordered_batches(num_batches=11)
        rebuilt = np.concatenate([b.rewards for b in seq.split_ordered_batches(batch_size=3)])
        np.testing.assert_array_equal(rebuilt, seq.rewards)
        with pytest.raises(ValueError, match="exactly one of batch_size and num_batches"):
            list(seq.split_ordered_batches())

    def test_shuffled_batches_are_seeded_and_cover_every_step(self, parts):
        seq = StepSequence.concat(parts)
        first = [b.rewards.tolist() for b in seq.split_shuffled_batches(3, seed=5)]
        again = [b.rewards.tolist() for b in seq.split_shuffled_batches(3, seed=5)]
        assert first == again
        assert sorted(r for b in first for r in b) == sorted(seq.rewards.tolist())
        whole = list(seq.split_shuffled_batches(4, complete_rollouts=True, seed=1))
        lengths = sorted(length for b in whole for length in b.rollout_lengths.tolist())
        assert lengths == [2, 3, 5]
        # A batch of whole rollouts closes as soon as it holds batch_size steps, not one
        # rollout later: four 5-step rollouts make two batches of exactly 10.
        equal = StepSequence.concat([make_rollout(5, seed=k) for k in range(4)])
        batches = equal.split_shuffled_batches(10, complete_rollouts=True, seed=0)
        assert [len(b) for b in batches] == [10, 10]

    @pytest.mark.parametrize("seed", range(4))
    def test_shuffled_batches_are_the_index_batches_of_the_same_seed(self, seed):
        # The batches are gathered from index arrays now (tuples of ints before): same draws.
        seq, _ = _random_sequence(np.random.default_rng(seed), max_rollouts=12)
        got = list(seq.split_shuffled_batches(4, seed=seed))
        expected = [seq[list(b)] for b in gen_shuffled_batch_idcs(4, len(seq), seed=seed)]
        assert len(got) == len(expected)
        for batch, ref in zip(got, expected, strict=True):
            assert_sequences_equal(batch, ref)

    def test_slices_keep_their_source_step_types(self):
        # A slice that starts mid-episode starts with a MID step, as an index list does; a
        # recurrent learner resetting on FIRST must not reset in every mini-batch.
        ro = StepSequence(
            rewards=np.arange(5.0),
            observations=np.arange(6.0),
            actions=np.zeros(5),
            terminated=[0, 0, 0, 0, 1],
            truncated=[0] * 5,
        )
        assert ro.step_types.tolist() == [0, 1, 1, 1, 2]
        assert ro[2:5].step_types.tolist() == [1, 1, 2]
        assert ro[[2, 3, 4]].step_types.tolist() == [1, 1, 2]
        assert ro[0:2].step_types.tolist() == [0, 1]
        assert ro[2:5][0:2].step_types.tolist() == [1, 1]  # a slice of a slice
        assert ro[2:5].get_rollout(0).step_types.tolist() == [1, 1, 2]
        batches = [b.step_types.tolist() for b in ro.split_ordered_batches(batch_size=2)]
        assert batches == [[0, 1], [1, 1], [2]]
        # Joined again, the slices are the source (types and bounds alike).
        joined = StepSequence.concat(list(ro.split_ordered_batches(batch_size=2)))
        assert joined.step_types.tolist() == ro.step_types.tolist()

    def test_concat_of_gathered_batches_keeps_their_step_types(self, parts):
        seq = StepSequence.concat(parts)
        batches = list(seq.split_shuffled_batches(3, seed=0))
        joined = StepSequence.concat(batches)
        expected = np.concatenate([b.step_types for b in batches])
        assert joined.step_types.tolist() == expected.tolist()
        assert sorted(joined.step_types.tolist()) == sorted(seq.step_types.tolist())

    def test_sample_w_next_never_crosses_a_rollout_boundary(self, parts):
        seq = StepSequence.concat(parts)
        steps, nxt = seq.sample_w_next(7, seed=0)  # exactly the 7 eligible steps
        assert len(steps) == 7
        # Drawn without replacement: each step with a successor exactly once.
        assert steps.observations[:, 0].tolist() == [0.0, 1.0, 100.0, 101.0, 102.0, 103.0, 200.0]
        # Observations encode (rollout offset + index): the next step is always index + 1.
        np.testing.assert_array_equal(nxt.observations[:, 0], steps.observations[:, 0] + 1)
        again, _ = seq.sample_w_next(7, seed=0)
        np.testing.assert_array_equal(again.rewards, steps.rewards)
        with pytest.raises(ValueError, match="batch_size must be <= 7"):
            seq.sample_w_next(8)

    @pytest.mark.parametrize("seed", range(6))
    def test_sample_w_next_draws_what_the_set_difference_drew(self, seed):
        # The eligible steps were np.setdiff1d(arange(T), rollout ends) (O(T log T) per call);
        # the same steps in the same order must give the same draws for the same seed.
        seq, _ = _random_sequence(np.random.default_rng(seed), max_rollouts=30, max_len=20)
        eligible = np.setdiff1d(np.arange(len(seq)), seq.rollout_bounds[1:] - 1)
        for batch_size in sorted({1, eligible.size // 2, eligible.size} - {0}):
            steps, nxt = seq.sample_w_next(batch_size, seed=seed)
            rng = np.random.default_rng(seed)
            idcs = np.sort(rng.choice(eligible, size=batch_size, replace=False))
            np.testing.assert_array_equal(steps.observations, seq.observations[idcs])
            np.testing.assert_array_equal(nxt.observations, seq.observations[idcs + 1])
            np.testing.assert_array_equal(steps.step_types, seq.step_types[idcs])
            np.testing.assert_array_equal(nxt.step_types, seq.step_types[idcs + 1])
            with pytest.raises(
                ValueError,
                match=rf"^batch_size must be <= {eligible.size} \(steps with a successor in "
                rf"the same rollout\), got {eligible.size + 1}$",
            ):
                seq.sample_w_next(eligible.size + 1, seed=seed)

    @pytest.mark.parametrize("seed", range(3))
    def test_sample_w_next_from_a_large_memory_draws_what_the_eligible_list_drew(self, seed):
        # Above 10,000 eligible steps and for small batches numpy's choice switches from a
        # permutation to Floyd's algorithm: both must draw the steps a listed set drew.
        rng = np.random.default_rng(seed)
        lengths = rng.integers(1, 60, size=800)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        length = int(bounds[-1])
        seq = StepSequence(
            rewards=np.zeros(length),
            observations=np.arange(length + 1, dtype=np.float64),
            actions=np.zeros(length),
            rollout_bounds=bounds,
        )
        eligible = np.setdiff1d(np.arange(length), bounds[1:] - 1)
        assert eligible.size > 10_000
        for batch_size in (1, 64, eligible.size // 40, eligible.size):
            steps, nxt = seq.sample_w_next(batch_size, seed=seed)
            drawn = np.random.default_rng(seed)
            idcs = np.sort(drawn.choice(eligible, size=batch_size, replace=False))
            np.testing.assert_array_equal(steps.observations, idcs.astype(np.float64))
            np.testing.assert_array_equal(nxt.observations, idcs + 1.0)

    def test_sample_w_next_allocates_for_the_batch_not_the_memory(self):
        # A replay memory sampled at every training step: listing its eligible steps cost
        # O(T) per call (a T-entry mask and the eligible indices, 9 bytes per step).
        length, num_rollouts, batch_size = 400_000, 4, 8
        seq = StepSequence(
            rewards=np.zeros(length, np.float32),
            observations=np.zeros(length + 1, np.float32),
            actions=np.zeros(length, np.float32),
            rollout_bounds=np.linspace(0, length, num_rollouts + 1).astype(np.int64),
        )
        seq.sample_w_next(batch_size, seed=0)  # warm-up: first-call caches are not per call
        tracemalloc.start()
        try:
            steps, _ = seq.sample_w_next(batch_size, seed=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(steps) == batch_size
        # Generously above what a batch of 8 needs, far below one byte per step of memory.
        assert peak < length // 8


class TestPadProcessPandas:
    def test_pad_fills_and_extends_after_last_fields(self):
        ro = make_rollout(3, end="terminal")
        StepSequence.pad(ro, 5, pad_value=-1)
        assert ro.length == 5
        assert ro.rewards[3:].tolist() == [-1.0, -1.0]
        assert ro.observations.shape == (6, 3)
        assert ro.observations[4:].tolist() == [[-1.0] * 3] * 2
        assert ro.infos["nested"]["y"].tolist() == [0, 1, 2, -1, -1]
        # Still one rollout, ending where its data ends: the end flag moved to the last step.
        assert ro.terminated.tolist() == [False, False, False, False, True]
        assert ro.step_types.tolist() == [0, 1, 1, 1, 2]
        assert ro.rollout_bounds.tolist() == [0, 5]
        with pytest.raises(ValueError, match="len_to_pad_to must be >= the rollout length 5"):
            StepSequence.pad(ro, 4)

    def test_padded_rollout_is_one_the_constructor_accepts(self):
        ro = StepSequence(rewards=[1.0, 2.0], observations=[0.0, 1.0, 2.0], actions=[[0.0], [1.0]])
        StepSequence.pad(ro, 5)
        assert ro.step_types.tolist() == [0, 1, 1, 1, 2]
        np.testing.assert_array_equal(ro.observations, [0.0, 1.0, 2.0, 0.0, 0.0, 0.0])
        rebuilt = StepSequence(
            rewards=ro.rewards,
            observations=ro.observations,
            actions=ro.actions,
            terminated=ro.terminated,
            truncated=ro.truncated,
        )
        assert_sequences_equal(rebuilt, ro)
        timeout = make_rollout(3, end="timeout")
        StepSequence.pad(timeout, 4)
        assert timeout.truncated.tolist() == [False, False, False, True]
        assert timeout.terminated.tolist() == [False] * 4
        assert timeout.step_types.tolist() == [0, 1, 1, 3]

    def test_pad_of_a_slice_that_starts_mid_rollout(self):
        # Found by test_properties: the slice keeps its source's step types (its first step is
        # MID, not FIRST); pad left those 2 types for 4 steps.
        ro = make_rollout(4, end="terminal")[1:3]
        StepSequence.pad(ro, 4)
        assert ro.step_types.tolist() == [1, 1, 1, 1]
        end = make_rollout(4, end="terminal")[3:]
        StepSequence.pad(end, 3)
        assert end.step_types.tolist() == [1, 1, 2]
        assert end.terminated.tolist() == [False, False, True]

    def test_process_data_keeps_the_step_types_of_a_slice_that_starts_mid_rollout(self):
        # process_data rebuilt the sequence through the constructor, which made the slice's
        # first step FIRST; also rollout by rollout, where only the first part starts mid-way.
        ro = make_rollout(4, end="terminal")
        part = StepSequence.process_data(ro[1:3], lambda x: 2 * x, "x", include_fields=["rewards"])
        assert part.step_types.tolist() == [1, 1]
        assert part.rewards.tolist() == (2 * ro.rewards[1:3]).tolist()
        two = StepSequence.concat([ro, ro])[2:7]
        assert two.step_types.tolist() == [1, 2, 0, 1, 1]
        assert StepSequence.process_data(two, lambda x: x, "x").step_types.tolist() == [
            1,
            2,
            0,
            1,
            1,
        ]

    def test_pandas_round_trip_of_a_single_step(self):
        # Found by test_properties: from_pandas of a one-row frame failed reshaping the
        # (empty) rows that follow another to (0, -1).
        import gymnasium as gym

        from gymsamp.data import EnvSpec

        spec = EnvSpec(gym.spaces.Box(-np.inf, np.inf, (3,), np.float64), gym.spaces.Discrete(2))
        for end in ("terminal", "timeout", "none"):
            ro = make_rollout(1, end=end)
            back = StepSequence.from_pandas(ro.to_pandas(spec), spec)
            assert back.rollout_bounds.tolist() == [0, 1]
            assert back.step_types.tolist() == ro.step_types.tolist()
            np.testing.assert_array_equal(back.observations, ro.observations)

    def test_process_data_works_rollout_by_rollout(self, parts):
        seq = StepSequence.concat(parts)
        shifted = StepSequence.process_data(
            seq, lambda x: x - x[0], "x", include_fields=["observations"]
        )
        # Each rollout restarts at 0: nothing is mixed across a boundary.
        for ro in shifted.iterate_rollouts():
            assert ro.observations[:, 0].tolist() == list(range(ro.length + 1))
        np.testing.assert_array_equal(shifted.rewards, seq.rewards)

    def test_pandas_round_trip_with_labels(self, parts):
        import gymnasium as gym

        from gymsamp.data import EnvSpec

        spec = EnvSpec(
            gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
            gym.spaces.Discrete(2),
            obs_labels=("x", "y", "z"),
        )
        plain = [
            StepSequence(
                rewards=p.rewards,
                observations=p.observations,
                actions=p.actions,
                terminated=p.terminated,
                truncated=p.truncated,
            )
            for p in parts
        ]
        seq = StepSequence.concat(plain)
        df = seq.to_pandas(spec)
        assert {"x", "y", "z", "next_x", "actions", "rewards", "terminated"} <= set(df.columns)
        assert len(df) == 10
        back = StepSequence.from_pandas(df, spec)
        for a, b in zip(seq.iterate_rollouts(), back.iterate_rollouts(), strict=True):
            assert_tree_equal(a.observations, b.observations)
            assert_tree_equal(a.rewards, b.rewards)
            np.testing.assert_array_equal(a.actions, b.actions)
            np.testing.assert_array_equal(a.truncated, b.truncated)

    def test_pandas_round_trip_regroups_dict_and_tuple_fields(self, parts):
        import gymnasium as gym

        from gymsamp.data import EnvSpec

        spec = EnvSpec(gym.spaces.Box(-np.inf, np.inf, (3,), np.float64), gym.spaces.Discrete(2))
        for k, part in enumerate(parts):
            steps = np.arange(part.length + 1.0) + 10 * k
            part.add_data("carry", (steps, np.stack([steps, -steps], axis=1)))
        seq = StepSequence.concat(parts)
        df = seq.to_pandas(spec)
        assert {"infos.x", "infos.nested.y", "hidden[0]_1", "next_carry[0]"} <= set(df.columns)
        back = StepSequence.from_pandas(df, spec)
        assert list(back.data_names) == list(seq.data_names)
        for a, b in zip(seq.iterate_rollouts(), back.iterate_rollouts(), strict=True):
            np.testing.assert_array_equal(b.infos["x"], a.infos["x"])
            np.testing.assert_array_equal(b.infos["nested"]["y"], a.infos["nested"]["y"])
            # NamedTuples come back as plain tuples, position by position.
            np.testing.assert_array_equal(b.hidden[0], a.hidden.h)
            np.testing.assert_array_equal(b.hidden[1], a.hidden.c)
            # The T+1 tuple field keeps each rollout's final entry.
            np.testing.assert_array_equal(b.carry[0], a.carry[0])
            np.testing.assert_array_equal(b.carry[1], a.carry[1])

    def test_pandas_round_trip_with_labels_shared_by_several_fields(self):
        import gymnasium as gym

        from gymsamp.data import EnvSpec

        box = gym.spaces.Box(-9.0, 9.0, (2,), np.float64)
        spec = EnvSpec(
            box,
            gym.spaces.Box(-1.0, 1.0, (1,), np.float64),
            state_space=box,
            obs_labels=("x", "v"),
            act_labels=("x",),
            state_labels=("x", "v"),
        )
        ro = StepSequence(
            rewards=[1.0, 2.0],
            observations=np.arange(6.0).reshape(3, 2),
            actions=[[0.5], [0.25]],
            states=100 + np.arange(6.0).reshape(3, 2),
        )
        df = ro.to_pandas(spec)
        assert {"x", "actions.x", "states.x"} <= set(df.columns)
        back = StepSequence.from_pandas(df, spec)
        # The actions come from "actions.x", not from the observations' "x" column.
        assert back.actions.tolist() == [[0.5], [0.25]]
        np.testing.assert_array_equal(back.observations, ro.observations)
        np.testing.assert_array_equal(back.states, ro.states)

    def test_from_pandas_refuses_a_column_that_clashes_with_its_entries(self):
        import gymnasium as gym
        import pandas as pd

        from gymsamp.data import EnvSpec

        spec = EnvSpec(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2))
        df = pd.DataFrame(
            {"observations": [0.0], "actions": [1], "rewards": [1.0], "infos": [1], "infos.a": [2]}
        )
        with pytest.raises(ValueError, match=r"df must not have both a column 'infos' and"):
            StepSequence.from_pandas(df, spec)

    def test_from_pandas_recomputes_rewards_with_task(self):
        import gymnasium as gym
        import pandas as pd

        from gymsamp.data import EnvSpec

        class Task:
            def step_rew(self, state, act, remaining_steps):
                return float(state[0] + act[0] + remaining_steps)

        spec = EnvSpec(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(-1, 1, (1,)))
        df = pd.DataFrame({"observations_0": [0.5, 0.25], "actions_0": [0.5, 0.0]})
        ro = StepSequence.from_pandas(df, spec, task=Task())
        np.testing.assert_allclose(ro.rewards, [2.0, 0.25])

    @staticmethod
    def _sampled(space, count, seed):
        """``count`` samples of ``space`` stacked leaf by leaf (a dict / tuple of arrays)."""
        from gymsamp.data._tree import tree_map

        space.seed(seed)
        samples = [space.sample() for _ in range(count)]
        return tree_map(lambda *leaves: np.stack(leaves), *samples)

    @pytest.mark.parametrize(
        "which", ["dict", "nested dict", "tuple with an image", "nested actions and states"]
    )
    def test_from_pandas_reads_nested_spaces_from_csv_by_the_spec(self, which):
        # A CSV file keeps no attrs (no layout): the spec's spaces must give every leaf its
        # shape and dtype, as they do for a flat Box.
        import io

        import gymnasium as gym
        import pandas as pd

        from gymsamp.data import EnvSpec

        img = gym.spaces.Box(0, 255, (2, 2), np.uint8)
        pos = gym.spaces.Box(-1, 1, (2,), np.float32)
        obs_space = {
            "dict": gym.spaces.Dict({"img": img, "k": gym.spaces.Discrete(3), "pos": pos}),
            "nested dict": gym.spaces.Dict(
                {"a": gym.spaces.Dict({"img": img, "k": gym.spaces.Discrete(3)}), "pos": pos}
            ),
            "tuple with an image": gym.spaces.Tuple(
                (img, gym.spaces.Discrete(3), gym.spaces.MultiBinary(3))
            ),
            "nested actions and states": pos,
        }[which]
        nested = which == "nested actions and states"
        act_space = gym.spaces.Tuple((pos, gym.spaces.Discrete(2))) if nested else pos
        state_space = gym.spaces.Dict({"q": img, "v": pos}) if nested else None
        spec = EnvSpec(obs_space, act_space, state_space=state_space)
        rollouts = []
        for k, (length, flag) in enumerate([(3, "terminated"), (2, "truncated")]):
            flags = {"terminated": np.zeros(length, bool), "truncated": np.zeros(length, bool)}
            flags[flag][-1] = True
            states = {"states": self._sampled(state_space, length + 1, k)} if nested else {}
            rollouts.append(
                StepSequence(
                    rewards=np.arange(length, dtype=np.float64),
                    observations=self._sampled(obs_space, length + 1, k),
                    actions=self._sampled(act_space, length, k),
                    **states,
                    **flags,
                )
            )
        seq = StepSequence.concat(rollouts)
        df = pd.read_csv(io.StringIO(seq.to_pandas(spec).to_csv(index=False)))
        assert "gymsamp_layout" not in df.attrs
        back = StepSequence.from_pandas(df, spec)
        assert back.rollout_count == 2
        for want, got in zip(seq.iterate_rollouts(), back.iterate_rollouts(), strict=True):
            for name in ("observations", "actions", *(("states",) if nested else ())):
                assert_tree_equal(got.get_data_values(name), want.get_data_values(name), name)
            np.testing.assert_array_equal(got.rewards, want.rewards)
            np.testing.assert_array_equal(got.terminated, want.terminated)
            np.testing.assert_array_equal(got.truncated, want.truncated)

    def test_from_pandas_names_a_missing_column_of_a_nested_space(self):
        import io

        import gymnasium as gym
        import pandas as pd

        from gymsamp.data import EnvSpec

        space = gym.spaces.Dict(
            {"img": gym.spaces.Box(0, 255, (2, 2), np.uint8), "k": gym.spaces.Discrete(3)}
        )
        spec = EnvSpec(space, gym.spaces.Discrete(2))
        ro = StepSequence(
            rewards=[0.0, 1.0],
            observations=self._sampled(space, 3, 0),
            actions=[0, 1],
            terminated=[False, True],
        )
        csv = ro.to_pandas(spec).drop(columns=["observations.img_3", "observations.k"])
        df = pd.read_csv(io.StringIO(csv.to_csv(index=False)))
        with pytest.raises(
            ValueError,
            match=r"df must have the observations.img columns \['observations.img_0', "
            r"'observations.img_1', 'observations.img_2', 'observations.img_3'\], missing "
            r"\['observations.img_3'\]",
        ):
            StepSequence.from_pandas(df, spec)
        df = pd.read_csv(
            io.StringIO(ro.to_pandas(spec).drop(columns="observations.k").to_csv(index=False))
        )
        with pytest.raises(
            ValueError, match=r"df must have the observations.k columns \['observations.k'\]"
        ):
            StepSequence.from_pandas(df, spec)


class TestInputValidation:
    """Bad user input raises a builtin error naming the argument (DESIGN §8)."""

    def test_field_of_only_empty_dicts_names_the_field(self):
        # Found by test_properties: the message read "must have the same length, got {}".
        with pytest.raises(
            ValueError, match=r"field 'env_infos' must hold at least one array .* got \{\}"
        ):
            StepSequence(
                rewards=[0.0, 1.0], observations=[0, 1, 2], actions=[0, 1], env_infos=[{}, {}]
            )

    @staticmethod
    def small(**kwargs):
        return StepSequence(
            rewards=np.ones(4), observations=np.zeros((5, 2)), actions=np.zeros((4, 1)), **kwargs
        )

    @pytest.mark.parametrize(
        ("name", "flags", "message"),
        [
            ("terminated", [0, 0, 0, 0.5], r"terminated must hold only bools \(or 0/1\), got 0.5"),
            ("truncated", [0, np.nan, 0, 0], r"truncated must hold only bools .* got nan"),
            ("done", [0, 0, 0, 2], r"done must hold only bools \(or 0/1\), got 2 at index 3"),
            ("terminated", torch.tensor([0.0, 0, 0, 3]), r"terminated must hold only bools"),
        ],
    )
    def test_flags_must_be_bools_or_0_1(self, name, flags, message):
        with pytest.raises(ValueError, match=message):
            self.small(**{name: flags})

    def test_0_1_and_bool_flags_are_accepted(self):
        assert self.small(terminated=[0, 0, 0, 1]).step_types.tolist() == [0, 1, 1, 2]
        assert self.small(truncated=np.array([0.0, 0, 0, 1])).step_types.tolist() == [0, 1, 1, 3]
        assert self.small(done=torch.tensor([0, 0, 0, 1])).terminated.tolist()[-1]

    @pytest.mark.parametrize(
        ("bounds", "error", "message"),
        [
            ([0, 7], ValueError, r"rollout_bounds must be strictly increasing .* got \[0, 7\]"),
            ("ab", TypeError, r"rollout_bounds must be integers, got 'ab'"),
            ([0, 2.5, 4], TypeError, r"rollout_bounds must be integers, got \[0.0, 2.5, 4.0\]"),
            ([], ValueError, r"rollout_bounds must be strictly increasing .* got \[\]"),
        ],
    )
    def test_rollout_bounds_are_checked_before_use(self, bounds, error, message):
        with pytest.raises(error, match=message):
            self.small(rollout_bounds=bounds)

    def test_rollout_bounds_of_a_non_continuous_sequence_raise(self):
        with pytest.raises(ValueError, match=r"rollout_bounds must be None for a non-continuous"):
            self.small(rollout_bounds=[0, 4], continuous=False)

    def test_rollout_bounds_as_tuple_or_numpy_ints(self):
        assert self.small(rollout_bounds=(0, 1, 4)).rollout_lengths.tolist() == [1, 3]
        assert self.small(rollout_bounds=np.array([0, 1, 4])).rollout_count == 2

    def test_ragged_fields_name_the_field(self):
        with pytest.raises(
            ValueError,
            match=r"rewards must hold items of one shape to stack them, got shape \(\) at "
            r"index 0 and \(2,\) at index 1",
        ):
            StepSequence(
                rewards=[1, [2, 3], 4, 5], observations=np.zeros((5, 2)), actions=np.zeros((4, 1))
            )
        with pytest.raises(ValueError, match=r"infos.x must hold items of one shape"):
            self.small(infos=[{"x": 1}, {"x": [1, 2]}, {"x": 1}, {"x": 1}])
        with pytest.raises(ValueError, match=r"actions must hold items of one shape"):
            StepSequence(rewards=np.ones(2), observations=np.zeros(3), actions=[[1], [1, 2]])

    @pytest.mark.parametrize("name", ["continuous", "complete"])
    def test_flags_arguments_must_be_bools(self, name):
        with pytest.raises(TypeError, match=rf"{name} must be a bool \(True or False\), got 'no'"):
            self.small(**{name: "no"})
        assert self.small(**{name: np.True_}).length == 4

    def test_split_shuffled_batches_checks_at_the_call(self):
        ro = self.small()
        with pytest.raises(TypeError, match=r"complete_rollouts must be a bool .* got 'x'"):
            ro.split_shuffled_batches(2, complete_rollouts="x")
        with pytest.raises(ValueError, match=r"seed must be None, an int >= 0 or a numpy"):
            ro.split_shuffled_batches(2, seed=-1)
        with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
            ro.split_ordered_batches(0)
        batches = list(ro.split_shuffled_batches(np.int64(2), seed=np.int64(3)))
        assert sorted(len(b) for b in batches) == [2, 2]

    @pytest.mark.parametrize(
        ("length", "error", "message"),
        [
            (6.5, TypeError, r"len_to_pad_to must be an int >= 1, got 6.5"),
            ("a", TypeError, r"len_to_pad_to must be an int >= 1, got 'a'"),
            (True, TypeError, r"len_to_pad_to must be an int >= 1, got True"),
            (0, ValueError, r"len_to_pad_to must be an int >= 1, got 0"),
        ],
    )
    def test_pad_length_must_be_an_int(self, length, error, message):
        with pytest.raises(error, match=message):
            StepSequence.pad(self.small(), length)

    @pytest.mark.parametrize(
        ("pad_value", "field", "dtype"),
        [
            (float("nan"), "counts", "int64"),  # was filled with -9223372036854775808
            (float("inf"), "counts", "int64"),
            (2**63, "counts", "int64"),  # was numpy's OverflowError
            (-1, "pixels", "uint8"),  # was wrapped to 255
            (256.0, "pixels", "uint8"),  # was wrapped to 0
            (10**40, "rewards", "float32"),  # was numpy's OverflowError / inf
        ],
    )
    @pytest.mark.parametrize("data_format", ["numpy", "torch"])
    def test_pad_refuses_a_value_the_field_cannot_hold(self, pad_value, field, dtype, data_format):
        ro = StepSequence(
            rewards=np.array([1.0, 2.0], dtype=np.float32),
            observations=np.zeros(3),
            actions=np.zeros(2),
            counts=np.array([3, 4]),
            pixels=np.array([5, 6], dtype=np.uint8),
            flags=np.array([True, False]),
            data_format=data_format,
        )
        message = (
            rf"pad_value must be representable in {field} \(dtype {dtype}\), "
            rf"got {re.escape(repr(pad_value))}"
        )
        with pytest.raises(ValueError, match=message):
            StepSequence.pad(ro, 4, pad_value)
        assert ro.length == 2  # nothing padded
        assert ro.counts.tolist() == [3, 4]
        StepSequence.pad(ro, 4, 255.5)  # cast as numpy casts: 255 in the int fields
        assert ro.counts.tolist() == [3, 4, 255, 255]
        assert ro.pixels.tolist() == [5, 6, 255, 255]
        assert ro.flags.tolist() == [True, False, True, True]
        assert ro.rewards.tolist() == [1.0, 2.0, 255.5, 255.5]

    def test_pad_with_nan_keeps_float_fields_nan(self):
        ro = StepSequence(rewards=[1.0, 2.0], observations=np.zeros(3), actions=np.zeros(2))
        StepSequence.pad(ro, 3, float("nan"))
        assert np.isnan(ro.rewards[2])
        assert np.isnan(ro.observations[3])

    def test_pad_other_arguments(self):
        with pytest.raises(TypeError, match=r"pad_value must be a real number, got 'x'"):
            StepSequence.pad(self.small(), 6, "x")
        with pytest.raises(TypeError, match=r"rollout must be a StepSequence, got NoneType"):
            StepSequence.pad(None, 6)
        ro = self.small()
        StepSequence.pad(ro, np.int64(6), np.float32(-1.0))
        assert ro.rewards.tolist() == [1, 1, 1, 1, -1, -1]

    @pytest.mark.parametrize(
        "value",
        [np.array(1.0), torch.tensor(1.0), {"a": np.array(1.0)}],
        ids=["numpy", "torch", "dict"],
    )
    @pytest.mark.parametrize("data_format", ["numpy", "torch"])
    def test_a_0d_field_is_refused_by_name(self, value, data_format):
        # Was "len() of unsized object" / "len() of a 0-d tensor" from numpy or torch.
        path = "observations.a" if isinstance(value, dict) else "observations"
        message = rf"{path} must have one entry per step \(at least one axis\), got a 0-d"
        with pytest.raises(ValueError, match=message):
            StepSequence(
                rewards=[1.0, 2.0], observations=value, actions=[0, 1], data_format=data_format
            )
        with pytest.raises(ValueError, match=r"extra must have one entry per step"):
            self.small().add_data("extra", torch.tensor(1.0))

    @pytest.mark.parametrize(
        ("item_shape", "error"), [((-1,), ValueError), ((2.5,), TypeError), ("ab", TypeError)]
    )
    def test_add_data_item_shape(self, item_shape, error):
        with pytest.raises(error, match=r"item_shape must be a tuple of ints >= 0 or None, got"):
            self.small().add_data("values", item_shape=item_shape)

    def test_add_data_item_shape_and_with_after_last_valid(self):
        ro = self.small()
        ro.add_data("a", item_shape=(np.int64(2),), with_after_last=np.True_)
        ro.add_data("b", item_shape=[3])
        assert ro.a.shape == (5, 2)
        assert ro.b.shape == (4, 3)
        with pytest.raises(TypeError, match=r"with_after_last must be a bool .* got 'yes'"):
            ro.add_data("c", item_shape=(), with_after_last="yes")

    def test_process_data_refuses_unknown_and_str_fields(self):
        ro = self.small()
        add = lambda x: x + 100  # noqa: E731
        with pytest.raises(
            ValueError,
            match=r"include_fields must name data fields of the rollout \['actions', "
            r"'observations', 'rewards'\], got unknown \['rewardz'\]",
        ):
            StepSequence.process_data(ro, add, "x", include_fields=["rewardz"])
        with pytest.raises(ValueError, match=r"exclude_fields must name data fields .* \['obs'\]"):
            StepSequence.process_data(ro, add, "x", exclude_fields=["obs"])
        with pytest.raises(
            TypeError, match=r"include_fields must be a list of field names \(not a str\), got"
        ):
            StepSequence.process_data(ro, add, "x", include_fields="rewards")
        with pytest.raises(
            ValueError,
            match=r"include_fields and exclude_fields must not name the same field, got "
            r"\['rewards'\] in both",
        ):
            StepSequence.process_data(
                ro, add, "x", include_fields=("rewards",), exclude_fields=["rewards"]
            )

    def test_process_data_refuses_non_sequences_and_non_callables(self):
        with pytest.raises(TypeError, match=r"rollout must be a StepSequence, got NoneType"):
            StepSequence.process_data(None, lambda x: x, "x")
        with pytest.raises(TypeError, match=r"fcn must be callable, got 3"):
            StepSequence.process_data(self.small(), 3, "x")

    @pytest.mark.parametrize(
        ("call", "error", "message"),
        [
            (
                lambda ro: StepSequence.pad(StepSequence.concat([ro, ro]), 10),
                ValueError,
                r"rollout must hold a single rollout, got 2",
            ),
            (
                lambda ro: StepSequence.process_data(ro, abs, "1x"),
                TypeError,
                r"fcn_arg_name must be a keyword name \(a str\), got '1x'",
            ),
            (
                lambda ro: StepSequence.process_data(ro, abs, "x", include_fields=["rewards", 1]),
                TypeError,
                r"include_fields must hold field names \(strs\), got 1",
            ),
            (
                lambda ro: StepSequence.concat([ro, 1]),
                TypeError,
                r"parts\[1\] must be a StepSequence, got int",
            ),
            (
                lambda ro: ro.convert("jax"),
                ValueError,
                r"data_format must be one of \('numpy', 'torch'\), got 'jax'",
            ),
            (
                lambda ro: ro.add_data("_hidden"),
                ValueError,
                r"name must be an identifier not starting with '_', got '_hidden'",
            ),
            (
                lambda ro: ro.add_data(3),
                TypeError,
                r"name must be a str \(a field name\), got int 3",
            ),
            (
                lambda ro: ro.add_data("x", {"a": np.zeros(4), "b": np.zeros(5)}),
                ValueError,
                r"every array in field 'x' must have the same length, got \{'x.a': 4, 'x.b': 5\}",
            ),
            (
                lambda ro: ro.get_data_values("rewardz"),
                KeyError,
                r"name must be a data field, got 'rewardz'; fields: \['actions', 'observations'",
            ),
            (
                lambda ro: ro[np.array([True, False])],
                IndexError,
                r"a boolean index must have shape \(4,\), got \(2,\)",
            ),
            (lambda ro: ro[[0, 7]], IndexError, r"indices must be in \[0, 4\), got \[0 7\]"),
            (
                lambda ro: ro.next_values("rewards"),
                ValueError,
                r"name must be a field with T\+1 entries, got 'rewards'; such fields are "
                r"\['observations'\]",
            ),
        ],
    )
    def test_bad_arguments_name_the_argument_and_value(self, call, error, message):
        ro = self.small()
        with pytest.raises(error, match=message):
            call(ro)
        assert ro.data_names == ["rewards", "observations", "actions"]  # unchanged
        assert ro.length == 4

    def test_required_fields_of_a_subclass_are_checked(self):
        class Valued(StepSequence):
            required_fields: ClassVar[set[str]] = {"values"}

        with pytest.raises(ValueError, match=r"data must contain the required fields \['values'\]"):
            Valued(rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0])
        ro = Valued(rewards=[1.0, 2.0], observations=np.zeros(3), actions=[0, 0], values=[5, 6])
        assert ro.values.tolist() == [5, 6]

    def test_add_data_item_shape_none_or_an_int(self):
        ro = self.small()
        ro.add_data("a", item_shape=None)
        ro.add_data("b", item_shape=np.int64(2), with_after_last=True)
        assert ro.a.shape == (4,)
        assert ro.b.shape == (5, 2)
        assert not ro.a.any()
        assert not ro.b.any()

    def test_process_data_leaves_other_types_and_concat_takes_a_format(self):
        ro = self.small()
        ro.add_data("names", np.array(["a", "b", "c", "d"], dtype=object))
        out = StepSequence.process_data(ro, lambda x: x + 1, "x", fcn_arg_types=torch.Tensor)
        assert out.rewards.tolist() == [1, 1, 1, 1]  # numpy arrays are not torch.Tensors
        assert out.names.tolist() == ["a", "b", "c", "d"]
        joined = StepSequence.concat([self.small(), self.small()], data_format="torch")
        assert joined.data_format == "torch"
        assert joined.rewards.tolist() == [1.0] * 8

    def test_process_data_with_a_tuple_of_fields(self):
        out = StepSequence.process_data(
            self.small(), lambda x: x + 1, "x", include_fields=("rewards",)
        )
        assert out.rewards.tolist() == [2, 2, 2, 2]
        assert out.observations.tolist() == self.small().observations.tolist()

    def test_step_of_something_else_raises(self):
        with pytest.raises(TypeError, match=r"rollout must be a StepSequence, got NoneType"):
            Step(None, 0)

    def test_convert_refuses_an_unknown_data_type(self):
        ro = self.small()
        with pytest.raises(TypeError, match=r"data_type must be a torch dtype, a numpy dtype or "):
            ro.convert("torch", "foo")
        assert ro.data_format == "numpy"  # unchanged
        with pytest.raises(TypeError, match=r"data_type must be a numpy dtype or None, got 'foo'"):
            ro.convert("numpy", "foo")
        ro.convert("torch", "float32")
        assert ro.rewards.dtype == torch.float32

    def test_concat_checks_its_arguments(self):
        ro = self.small()
        with pytest.raises(TypeError, match=r"truncate_last must be a bool .* got 'no'"):
            StepSequence.concat([ro], truncate_last="no")
        with pytest.raises(TypeError, match=r"parts must be a list of StepSequence objects"):
            StepSequence.concat(ro)


def _one_step(observations, **more):
    return StepSequence(rewards=[0.0], observations=observations, actions=[[0.0]], **more)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            [[0.0, 1.0], [1.0, 1.0]],
            r"parts\[2\] has observations of shape \(2,\) per step but must have \(1,\) to "
            r"match parts\[0\]",
        ),
        (
            {"x": [[0.0], [1.0]]},
            r"parts\[2\] has the leaves \['observations.x'\] in 'observations' but must have "
            r"\['observations'\] to match parts\[0\]",
        ),
    ],
)
def test_concat_names_the_part_whose_field_does_not_fit(second, message):
    # It was numpy's "all the input array dimensions except for the concatenation axis ...".
    first = _one_step([[0.0], [1.0]])
    with pytest.raises(ValueError, match=message):
        StepSequence.concat([first, first, _one_step(second)])


def test_concat_names_a_nested_leaf_whose_shape_does_not_fit():
    first = _one_step({"x": [[0.0], [1.0]], "y": [[0.0], [1.0]]})
    other = _one_step({"x": [[0.0], [1.0]], "y": [[0.0, 0.0], [1.0, 0.0]]})
    with pytest.raises(ValueError, match=r"parts\[1\] has observations.y of shape \(2,\)"):
        StepSequence.concat([first, other])


def test_concat_names_a_field_whose_dtypes_do_not_join():
    # Same shapes, no common dtype: it was numpy's DTypePromotionError naming no field.
    first = _one_step([[0.0], [1.0]])
    dated = _one_step(np.array([[0], [1]], dtype="datetime64[s]"))
    with pytest.raises(
        TypeError,
        match=r"parts must have 'observations' of dtypes that join .* got the dtypes "
        r"\['datetime64\[s\]', 'float64'\]",
    ):
        StepSequence.concat([first, dated])


def _random_sequence(rng, *, max_rollouts=6, max_len=7):
    """Rollouts of random lengths (1..max_len), each ending in a random combination of the two
    flags (none, terminated, truncated, both), concatenated; with the step types DESIGN §3
    gives them, computed from the flags and bounds in one go."""
    lengths = rng.integers(1, max_len + 1, size=rng.integers(1, max_rollouts + 1))
    parts = []
    for k, length in enumerate(lengths):
        term = np.zeros(length, bool)
        trunc = np.zeros(length, bool)
        term[-1], trunc[-1] = rng.integers(0, 2, size=2).astype(bool)
        parts.append(
            StepSequence(
                rewards=rng.normal(size=length),
                observations=np.arange(length + 1.0) + 100 * k,
                actions=np.zeros(length),
                terminated=term,
                truncated=trunc,
            )
        )
    seq = StepSequence.concat(parts)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    expected = step_types_from_flags(seq.terminated, seq.truncated, bounds)
    return seq, expected


def _assert_step_flags(seq, expected_types):
    """Every step's ``step_type`` / ``done`` / ``terminated`` / ``truncated`` equals the full
    arrays' entry, with the same scalar types (``np.int8``, ``np.bool_``)."""
    assert seq.step_types.tolist() == expected_types.tolist()
    done = seq.terminated | seq.truncated
    for i in [*range(len(seq)), -1, -len(seq)]:
        step = seq[i]
        assert type(step.step_type) is np.int8
        assert step.step_type == expected_types[i]
        assert step["step_types"] == expected_types[i]
        assert type(step.done) is np.bool_
        assert step.done == done[i]
        assert step.terminated == seq.terminated[i]
        assert step.truncated == seq.truncated[i]


class TestStepTypesOfParts:
    """Per-step flags and the step types of slices and gathered batches equal the entries of
    the full-array computation (DESIGN §3), however the steps were taken out."""

    @pytest.mark.parametrize("seed", range(25))
    def test_steps_slices_and_batches_match_the_full_arrays(self, seed):
        rng = np.random.default_rng(seed)
        seq, expected = _random_sequence(rng)
        length = len(seq)
        _assert_step_flags(seq, expected)
        # Slices (a slice that starts mid-rollout starts with a MID step) and slices of them.
        start = int(rng.integers(0, length))
        stop = int(rng.integers(start + 1, length + 1))
        sub = seq[start:stop]
        _assert_step_flags(sub, expected[start:stop])
        inner = int(rng.integers(0, len(sub)))
        _assert_step_flags(sub[inner:], expected[start + inner : stop])
        # Gathered batches (index lists, masks, strided slices, shuffled batches) keep the
        # source's types, also when gathered from a slice or from another batch.
        idcs = rng.permutation(length)[: rng.integers(1, length + 1)]
        batch = seq[idcs]
        _assert_step_flags(batch, expected[idcs])
        _assert_step_flags(seq[::2], expected[::2])
        _assert_step_flags(seq[np.ones(length, bool)][::-1], expected[::-1])
        again = rng.permutation(len(batch))
        _assert_step_flags(batch[again], expected[idcs][again])
        _assert_step_flags(sub[[0, -1]], expected[start:stop][[0, -1]])
        shuffled = list(seq.split_shuffled_batches(3, seed=seed))
        for b in shuffled:
            # Observations encode (100 * rollout + index in it), so they name each step's source.
            source = [
                int(np.flatnonzero(seq.observations[:length] == o)[0]) for o in b.observations
            ]
            _assert_step_flags(b, expected[source])
        # Concatenations of batches and of slices keep every part's types.
        joined_types = np.concatenate([b.step_types for b in shuffled])
        _assert_step_flags(StepSequence.concat(shuffled), joined_types)
        ordered = list(seq.split_ordered_batches(batch_size=2))
        _assert_step_flags(StepSequence.concat(ordered), expected)

    def test_non_continuous_sequences_have_no_first_step(self):
        batch = StepSequence(
            rewards=np.zeros(4),
            observations=np.zeros(4),
            actions=np.zeros(4),
            continuous=False,
            terminated=[0, 1, 0, 1],
            truncated=[0, 1, 1, 0],
        )
        _assert_step_flags(batch, np.array([1, 2, 3, 2]))
        _assert_step_flags(batch[[3, 0]], np.array([2, 1]))

    def test_torch_sequences(self):
        seq, expected = _random_sequence(np.random.default_rng(7))
        seq.torch()
        _assert_step_flags(seq, expected)
        idcs = np.arange(len(seq))[::-1]
        _assert_step_flags(seq[idcs], expected[idcs])

    def test_one_step_and_gathered_steps_compute_only_their_own_types(self, monkeypatch):
        # A step's flags and a gathered batch's types were computed for the whole source
        # (O(T) per access, quadratic over a pass or an epoch); now only for the steps taken.
        seq, expected = _random_sequence(np.random.default_rng(3), max_rollouts=10)
        idcs = np.array([len(seq) - 1, 0, 2])
        mid = seq[1:]

        def whole_array(self):
            raise AssertionError("the flags of every step were computed")

        monkeypatch.setattr(StepSequence, "step_types", property(whole_array))
        monkeypatch.setattr(StepSequence, "done", property(whole_array))
        for i in range(len(seq)):
            assert seq[i].step_type == expected[i]
            assert seq[i].done == (seq.terminated[i] | seq.truncated[i])
        batch = seq[idcs]
        assert batch[0].step_type == expected[idcs[0]]
        assert batch[[2, 1]][1].step_type == expected[idcs[1]]
        assert mid[0].step_type == expected[1]
        assert mid[[0]][0].step_type == expected[1]


def test_info_fields_read_as_an_empty_mapping_where_a_sequence_holds_none():
    # pyrado's and garage's rollouts always hold env_infos / agent_infos (empty where nothing
    # was reported); here such a rollout had neither, and `ro.env_infos` raised.
    ro = make_rollout(3)
    assert "env_infos" not in ro.data_names
    assert dict(ro.env_infos) == {}
    assert dict(ro.agent_infos) == {}
    with pytest.raises(TypeError):
        ro.env_infos["x"] = np.zeros(3)  # read-only: fields are added with add_data
    with pytest.raises(AttributeError, match="has no attribute or data field 'env_info'"):
        _ = ro.env_info
    ro.add_data("env_infos", {"x": np.arange(3.0)})
    np.testing.assert_array_equal(ro.env_infos["x"], [0.0, 1.0, 2.0])
    assert dict(make_rollout(3).env_infos) == {}  # the empty mapping is never shared state


def test_a_steps_info_fields_read_as_empty_where_the_sequence_holds_none():
    # As the sequence's, and as pyrado's Step (a proxy of an empty dict); ro[1].env_infos
    # raised "No entry named env_infos" where ro.env_infos read {}.
    step = make_rollout(3)[1]
    for name in ("env_infos", "env_info", "agent_infos", "agent_info"):
        proxy = getattr(step, name)
        assert isinstance(proxy, DictIndexProxy)
        assert dir(proxy) == dir(DictIndexProxy({}, 1))
    with pytest.raises(AttributeError, match=r"No entry named env_infos\.x; valid names: \[\]"):
        _ = step.env_infos.x
    with pytest.raises(AttributeError, match="No entry named env_inf"):
        _ = step.env_inf


def test_a_field_name_as_index_says_how_fields_are_read():
    # `ro["rewards"]`, as for a dict or a DataFrame, said only "index must be an int, ...".
    ro = make_rollout(3)
    with pytest.raises(IndexError) as info:
        _ = ro["rewards"]
    assert str(info.value) == (
        "index must be an int, a slice or a non-empty list of ints, got 'rewards' (a field is "
        "read as ro.rewards or ro.get_data_values('rewards'))"
    )
    with pytest.raises(IndexError) as info:
        _ = ro["reward"]
    assert str(info.value).endswith(
        f"(fields are read as attributes or with get_data_values(); fields: {ro.data_names})"
    )


def test_dir_lists_the_data_fields_for_tab_completion():
    # IPython and Jupyter complete `ro.obs<TAB>` from dir(), which listed no data field.
    ro = make_rollout(3)
    ro.add_data("values", np.zeros(4), with_after_last=True)
    names = dir(ro)
    assert {"observations", "actions", "rewards", "values"} <= set(names)
    assert {"length", "concat", "add_data"} <= set(names)  # the class's own names stay
    assert names == sorted(names)
