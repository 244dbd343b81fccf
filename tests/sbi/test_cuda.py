"""The SBI embeddings and simulators on a CUDA device.

With ``use_cuda=True`` every embedding computes on the GPU and gives the features its CPU twin
gives (up to the GPU's rounding); a simulator built on such an embedding returns its features
on the GPU, equal to those of the same simulator on the CPU; and sbi's NPE trains on them on
the GPU and recovers a known pendulum mass.

Skipped without a CUDA device (CI has none); on a GPU machine:
``python -m pytest tests/sbi/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gymsamp.policies import PlaybackPolicy
from gymsamp.sampling import rollout
from gymsamp.sbi import (
    BayesSimEmbedding,
    Embedding,
    RolloutSamplerForSBI,
    SimRolloutSamplerForSBI,
    sbi_env_spec,
)
from tests.sbi.test_embeddings import ALL, make

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (CI machines have none)"
)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_embedding_on_the_gpu_gives_its_cpu_features(cls: type[Embedding]) -> None:
    cpu, gpu = make(cls), make(cls, use_cuda=True)
    assert gpu.device == "cuda"
    data = torch.randn(4, 3, 7, cpu.dim_data_orig, generator=torch.Generator().manual_seed(0))
    expected = cpu(Embedding.pack(data))
    # PyTorch lets cuDNN's recurrent layers compute in TF32 by default (~1e-3 relative, measured
    # 8e-4 on features of ~1 for RNNEmbedding on an H200); float32 for the comparison.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        features = gpu(Embedding.pack(data))  # CPU data in: moved to the GPU by the embedding
    assert features.device.type == "cuda"
    assert features.shape == expected.shape
    torch.testing.assert_close(features.cpu(), expected, rtol=1e-4, atol=5e-5)


TORQUES = np.tile(np.array([[1.0], [-1.0]], np.float32), (20, 1))  # 40 steps


def recording(mass: float) -> object:
    return rollout(
        "Pendulum-v1",
        PlaybackPolicy(TORQUES),
        seed=0,
        max_steps=len(TORQUES),
        reset_kwargs={"domain_param": {"m": mass}},
    )


def simulate(theta: torch.Tensor, *, use_cuda: bool, num_workers: int = 1) -> torch.Tensor:
    spec = sbi_env_spec("Pendulum-v1")
    embedding = BayesSimEmbedding(spec, RolloutSamplerForSBI.get_dim_data(spec), use_cuda=use_cuda)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1",
        None,
        {0: "m"},
        embedding,
        num_segments=4,
        rollouts_real=[recording(1.3)],
        num_workers=num_workers,
        seed=0,
    ) as simulator:
        return simulator(theta)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_simulated_features_on_the_gpu_are_those_of_the_cpu(num_workers: int) -> None:
    theta = torch.tensor([[0.8], [1.3], [1.9]])
    features = simulate(theta, use_cuda=True, num_workers=num_workers)
    expected = simulate(theta, use_cuda=False)
    assert features.device.type == "cuda"
    torch.testing.assert_close(features.cpu(), expected, rtol=1e-4, atol=1e-5)
    # The true mass reproduces the recording's features, the others do not.
    assert not torch.allclose(features[0], features[1])


@pytest.mark.slow
def test_npe_trains_on_gpu_features_and_recovers_the_mass(tmp_path) -> None:
    from sbi.inference import NPE
    from sbi.utils import BoxUniform
    from sbi.utils.tracking import TensorBoardTracker
    from torch.utils.tensorboard import SummaryWriter

    low, high = torch.tensor([0.5], device="cuda"), torch.tensor([2.0], device="cuda")
    prior = BoxUniform(low=low, high=high)
    # sbi draws from torch's generators: a seeded fork of them, the caller's left as they were.
    with torch.random.fork_rng(devices=[torch.cuda.current_device()]):
        torch.manual_seed(0)
        theta = prior.sample((300,))
        assert theta.device.type == "cuda"
        x = simulate(theta, use_cuda=True)
        x_real = simulate(torch.tensor([[1.3]]), use_cuda=True)[0]
        assert x.device.type == x_real.device.type == "cuda"
        tracker = TensorBoardTracker(SummaryWriter(str(tmp_path)))  # not ./sbi-logs
        npe = NPE(prior=prior, device="cuda", show_progress_bars=False, tracker=tracker)
        npe.append_simulations(theta, x).train(max_num_epochs=30)
        samples = npe.build_posterior().sample((1000,), x=x_real, show_progress_bars=False)
    assert samples.device.type == "cuda"
    assert abs(float(samples.mean()) - 1.3) < 0.3
