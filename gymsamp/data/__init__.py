"""Episode data: step types, rollouts (:class:`StepSequence`), garage's batches, returns, I/O.

Example:
    >>> from gymsamp.data import StepSequence, StepType
    >>> ro = StepSequence(rewards=[1.0, 1.0], observations=[0, 1, 2], actions=[1, 1],
    ...                   terminated=[False, True], truncated=[False, False])
    >>> [StepType(t).name for t in ro.step_types]
    ['FIRST', 'TERMINAL']
"""

from gymsamp.data.batching import (
    gen_ordered_batch_idcs,
    gen_ordered_batches,
    gen_shuffled_batch_idcs,
    shuffled_ordered_batches,
)
from gymsamp.data.compare import check_act_equal
from gymsamp.data.data_format import cat_to_format, new_tuple, stack_to_format, to_format
from gymsamp.data.episode_batch import EpisodeBatch
from gymsamp.data.io import load_episode_batch, load_rollouts, save_episode_batch, save_rollouts
from gymsamp.data.returns import (
    discounted_reverse_cumsum,
    discounted_value,
    discounted_values,
    gae_returns,
)
from gymsamp.data.spec import EnvSpec, InOutSpec
from gymsamp.data.step import DictIndexProxy, Step
from gymsamp.data.step_sequence import StepSequence
from gymsamp.data.step_type import StepType, step_types_from_flags
from gymsamp.data.time_step import EnvStep, TimeStep, TimeStepBatch

__all__ = [
    "DictIndexProxy",
    "EnvSpec",
    "EnvStep",
    "EpisodeBatch",
    "InOutSpec",
    "Step",
    "StepSequence",
    "StepType",
    "TimeStep",
    "TimeStepBatch",
    "cat_to_format",
    "check_act_equal",
    "discounted_reverse_cumsum",
    "discounted_value",
    "discounted_values",
    "gae_returns",
    "gen_ordered_batch_idcs",
    "gen_ordered_batches",
    "gen_shuffled_batch_idcs",
    "load_episode_batch",
    "load_rollouts",
    "new_tuple",
    "save_episode_batch",
    "save_rollouts",
    "shuffled_ordered_batches",
    "stack_to_format",
    "step_types_from_flags",
    "to_format",
]
