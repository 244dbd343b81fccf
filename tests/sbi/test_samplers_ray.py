"""The SBI simulator on the Ray backend: the same features as the local backend.

Uses a local Ray of its own (2 CPUs, no dashboard, 127.0.0.1; see
``tests/sampling/conftest_ray.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gymsamp.policies import LinearPolicy, PlaybackPolicy
from gymsamp.sampling import rollout
from gymsamp.sbi import BayesSimEmbedding, SimRolloutSamplerForSBI, sbi_env_spec
from tests.sampling import conftest_ray

pytestmark = pytest.mark.slow

ray_session = conftest_ray.ray_session

POINT_MASS = "gymsamp/PointMass-v0"
PM_SPEC = sbi_env_spec(POINT_MASS)
THETA = torch.tensor([[2.0, 0.1], [0.7, 0.5], [1.3, 0.0], [0.9, 0.2], [1.6, 0.4]])
MAPPING = {0: "mass", 1: "friction"}


def recordings() -> list:
    forces = np.random.default_rng(1).uniform(-1, 1, (24, 1)).astype(np.float32)
    return [rollout(POINT_MASS, PlaybackPolicy(forces), seed=s, max_steps=24) for s in (0, 1)]


def features(backend: str, workers: int, *, policy=None, **kwargs) -> list[torch.Tensor]:
    """Two calls of one simulator (the second call's rows reset with other seeds)."""
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, policy, MAPPING, emb, num_workers=workers, seed=5, backend=backend, **kwargs
    ) as sim:
        return [sim(THETA), sim(THETA)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_segments": 3, "rollouts_real": "recordings"},  # recorded actions replayed
        {"num_segments": 1, "policy": LinearPolicy((2, 1), weight=[[-0.5, -0.2]])},
    ],
    ids=["replay", "policy"],
)
def test_ray_features_equal_the_local_backend(ray_session, monkeypatch, kwargs):
    if kwargs.get("rollouts_real") == "recordings":
        kwargs = {**kwargs, "rollouts_real": recordings()}
    expected = features("local", 2, **kwargs)
    puts: list = []
    real_put = ray_session.put
    monkeypatch.setattr(ray_session, "put", lambda value: puts.append(value) or real_put(value))
    actual = features("ray", 2, **kwargs)
    assert puts  # the rows went through Ray's object store to the actors
    for a, e in zip(actual, expected, strict=True):
        assert torch.equal(a, e)
    if "policy" in kwargs:  # each call's rows reset with their own seeds (replays do not)
        assert not torch.equal(actual[0], actual[1])


def test_ray_backend_refuses_what_ray_cannot_do(ray_session):
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with pytest.raises(ValueError, match=r"backend must be one of \('local', 'ray'\), got 'dask'"):
        SimRolloutSamplerForSBI(POINT_MASS, None, MAPPING, emb, num_segments=1, backend="dask")
    with pytest.raises(
        ValueError, match=r"vectorization must be 'auto' or 'sync' with backend='ray'"
    ):
        SimRolloutSamplerForSBI(
            POINT_MASS,
            LinearPolicy((2, 1)),
            MAPPING,
            emb,
            num_segments=1,
            backend="ray",
            vectorization="async",
        )


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # the diverging point mass
def test_ray_on_failure_nan_gives_the_local_backends_features(ray_session):
    theta = torch.cat([THETA[:2], torch.tensor([[1e-300, 0.1]]), THETA[2:]])  # row 2 diverges
    policy = LinearPolicy((2, 1), weight=[[-0.5, -0.2]])
    results = []
    for backend in ("local", "ray"):
        with (
            SimRolloutSamplerForSBI(
                POINT_MASS, policy, MAPPING, BayesSimEmbedding(PM_SPEC, 3), num_segments=1,
                num_workers=2, seed=5, backend=backend, on_failure="nan",
            ) as sim,
            pytest.warns(RuntimeWarning, match=r"^1 of 6 theta rows failed .*: row 2 \(mass"),
        ):  # fmt: skip
            results.append(sim(theta))
    local, ray_features = results
    assert torch.isnan(local).all(dim=1).tolist() == [False, False, True, False, False, False]
    assert torch.equal(local.nan_to_num(), ray_features.nan_to_num())
