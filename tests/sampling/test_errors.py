"""gymsamp's error classes: what they carry survives the trip between processes (pickle)."""

from __future__ import annotations

import pickle

import pytest

from gymsamp.sampling.errors import (
    LateSubEnvsError,
    NonFiniteError,
    StepTimeoutError,
    WorkerError,
)


def _worker_error() -> WorkerError:
    err = WorkerError("sub-env 2 raised ValueError", env_index=2, worker_index=1,
                      remote_traceback="Traceback ...")  # fmt: skip
    err.lost_env_indices, err.rollout_indices = (2, 3), (7,)
    return err


@pytest.mark.parametrize(
    ("make", "attributes"),
    [
        (
            _worker_error,
            {"message": "sub-env 2 raised ValueError", "env_index": 2, "worker_index": 1,
             "remote_traceback": "Traceback ...", "lost_env_indices": (2, 3),
             "rollout_indices": (7,)},
        ),
        (
            lambda: StepTimeoutError.of_call("step", 2.0, LateSubEnvsError("step", 2.0, [3])),
            {"env_index": 3, "message": "sub-env 3 did not finish its step within "
             "step_timeout=2.0 s"},
        ),
        (
            lambda: NonFiniteError("actions must be finite, got nan", rollout_indices=(3, 4)),
            {"rollout_indices": (3, 4)},
        ),
        (
            # A sub-env timeout of the vector envs (a worker's whole block): it did not load
            # at all (__init__() missing 2 required positional arguments), so a pool of
            # processes running gymsamp's vector envs lost the error and its worker.
            lambda: LateSubEnvsError("reset", 1.5, range(4, 8), worker_index=2),
            {"call": "reset", "timeout": 1.5, "env_indices": [4, 5, 6, 7], "worker_index": 2},
        ),
    ],
)  # fmt: skip
def test_errors_keep_their_type_message_and_attributes_through_pickle(make, attributes):
    err = make()
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert {name: getattr(copy, name) for name in attributes} == attributes


@pytest.mark.parametrize(
    "make",
    [
        _worker_error,
        lambda: StepTimeoutError.of_call("step", 2.0, LateSubEnvsError("step", 2.0, [3])),
        lambda: NonFiniteError("actions must be finite, got nan", rollout_indices=(3,)),
        lambda: LateSubEnvsError("step", 2.0, [1, 3]),
    ],
)
def test_errors_keep_their_notes_through_pickle(make):
    # The Ray backend adds the remote traceback as a note (PEP 678); a Ray sampler running
    # inside a SamplerPool worker sends the error on to the parent, which lost the notes.
    err = make()
    err.__notes__ = ["Raised in actor 1; remote traceback:\nTraceback ..."]
    copy = pickle.loads(pickle.dumps(err))
    assert copy.__notes__ == ["Raised in actor 1; remote traceback:\nTraceback ..."]
    assert getattr(pickle.loads(pickle.dumps(make())), "__notes__", None) is None
