"""Tests of gymsamp.stats.sample_from_hyper_sphere_surface: norm, uniformity, seeding, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch

from gymsamp.stats import sample_from_hyper_sphere_surface

_CASES = [("uniform", d) for d in (1, 2, 3, 5, 10)]
_CASES += [("normal", d) for d in (1, 2, 3, 4, 7, 50)]
_CASES += [("Marsaglia", 3), ("Marsaglia", 4)]


def _draw(method: str, num_dim: int, num: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return np.stack(
        [sample_from_hyper_sphere_surface(num_dim, method, gen).numpy() for _ in range(num)]
    )


@pytest.mark.parametrize(("method", "num_dim"), _CASES)
def test_unit_norm_shape_and_dtype(method, num_dim):
    for seed in range(20):
        x = sample_from_hyper_sphere_surface(num_dim, method, rng=seed)
        assert isinstance(x, torch.Tensor)
        # pyrado's was of torch's default dtype: float32 parameters perturbed by it stay float32.
        assert x.dtype == torch.get_default_dtype() == torch.float32
        assert (torch.zeros(num_dim) + x).dtype == torch.float32
        assert x.shape == (num_dim,)
        assert abs(float(torch.linalg.norm(x)) - 1.0) < 1e-6


def _sphere_moment(num_dim: int, k: int) -> float:
    """E[x_i^(2k)] for x uniform on the unit sphere in num_dim dimensions: (2k-1)!! / prod."""
    num = np.prod(np.arange(1, 2 * k, 2, dtype=float))
    den = np.prod(num_dim + np.arange(0, 2 * k, 2, dtype=float))
    return float(num / den)


@pytest.mark.parametrize(("method", "num_dim"), [c for c in _CASES if c[1] > 1])
def test_moments_match_the_uniform_distribution_on_the_sphere(method, num_dim):
    num = 4000
    x = _draw(method, num_dim, num, seed=num_dim)
    # Each bound is 5 standard errors of the sample moment under the uniform distribution.
    m2, m4, m8 = (_sphere_moment(num_dim, k) for k in (1, 2, 4))
    np.testing.assert_array_less(np.abs(x.mean(axis=0)), 5 * np.sqrt(m2 / num))
    np.testing.assert_array_less(np.abs((x**2).mean(axis=0) - m2), 5 * np.sqrt((m4 - m2**2) / num))
    # The fourth moment catches e.g. normalized cube points, which match the second one.
    np.testing.assert_array_less(np.abs((x**4).mean(axis=0) - m4), 5 * np.sqrt((m8 - m4**2) / num))
    # Distinct coordinates are uncorrelated: E[x_i x_j] = 0, bound again 5 standard errors of
    # the seeded draws, Var[x_i x_j] = E[x_i^2 x_j^2] = 1 / (d (d + 2)). This catches dependent
    # coordinates with the right marginals (4-D Marsaglia reusing its first disk point).
    cross = (x.T @ x / num)[~np.eye(num_dim, dtype=bool)]
    np.testing.assert_array_less(np.abs(cross), 5 * np.sqrt(1 / (num_dim * (num_dim + 2)) / num))


@pytest.mark.parametrize("method", ["uniform", "normal", "Marsaglia"])
def test_height_on_the_2_sphere_is_uniform(method):
    # Archimedes: every coordinate of a uniform point on the 2-sphere is uniform on [-1, 1].
    x = _draw(method, 3, 3000, seed=11)
    for j in range(3):
        assert scipy.stats.kstest(x[:, j], scipy.stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_normalized_cube_points_would_fail_the_height_test():
    # Guards the test above: without the rejection step the height is not uniform.
    cube = np.random.default_rng(0).uniform(-1, 1, size=(3000, 3))
    z = cube[:, 2] / np.linalg.norm(cube, axis=1)
    assert scipy.stats.kstest(z, scipy.stats.uniform(-1, 2).cdf).pvalue < 1e-3


def _folded_angles(points: np.ndarray) -> np.ndarray:
    """Directions of 2-D points as angles folded into one quadrant, [0, pi / 2)."""
    return np.mod(np.arctan2(points[:, 1], points[:, 0]), np.pi / 2)


@pytest.mark.parametrize("method", ["uniform", "normal"])
def test_directions_on_the_circle_crowd_neither_axes_nor_diagonals(method):
    # In 2-D the angle of a uniform direction is uniform; folded into one quadrant it shows any
    # preference of the diagonals over the axes (cube points accepted a little outside the
    # unit ball would crowd the diagonals), which the moment tests above barely see.
    x = _draw(method, 2, 5000, seed=2)
    assert (
        scipy.stats.kstest(_folded_angles(x), scipy.stats.uniform(0, np.pi / 2).cdf).pvalue > 1e-3
    )


def test_cube_points_kept_slightly_outside_the_ball_would_fail_the_angle_test():
    # Guards the test above: rejection at radius 1.2 instead of 1 (the corners leak in).
    cube = np.random.default_rng(0).uniform(-1.0, 1.0, size=(8000, 2))
    norms = np.linalg.norm(cube, axis=1)
    kept = cube[(norms <= 1.2) & (norms > 0)][:5000]
    assert (
        scipy.stats.kstest(_folded_angles(kept), scipy.stats.uniform(0, np.pi / 2).cdf).pvalue
        < 1e-3
    )


@pytest.mark.parametrize("method", ["uniform", "normal"])
def test_one_dimension_gives_both_signs(method):
    x = _draw(method, 1, 400, seed=3)[:, 0]
    assert set(np.unique(x)) == {-1.0, 1.0}
    assert 150 < np.sum(x > 0) < 250


@pytest.mark.parametrize(("method", "num_dim"), [("uniform", 4), ("normal", 6), ("Marsaglia", 4)])
def test_seeding(method, num_dim):
    a = sample_from_hyper_sphere_surface(num_dim, method, rng=5)
    assert torch.equal(a, sample_from_hyper_sphere_surface(num_dim, method, rng=5))
    assert not torch.equal(a, sample_from_hyper_sphere_surface(num_dim, method, rng=6))
    gen = np.random.default_rng(5)
    assert torch.equal(a, sample_from_hyper_sphere_surface(num_dim, method, gen))
    assert not torch.equal(a, sample_from_hyper_sphere_surface(num_dim, method, gen))
    assert sample_from_hyper_sphere_surface(num_dim, method).shape == (num_dim,)


@pytest.mark.parametrize("seed", range(5))
def test_marsaglia_follows_the_papers_formulas(seed):
    # Marsaglia (1972): from (x1, x2) uniform in the unit disk, s = x1^2 + x2^2, the 3-D point is
    # (2 x1 sqrt(1 - s), 2 x2 sqrt(1 - s), 1 - 2 s); the 4-D one (x1, x2, x3 r, x4 r) with
    # r = sqrt((1 - s1) / s2) from a second disk point. A reflected formula is as uniform.
    def disk(rng):
        while True:
            x = rng.uniform(-1.0, 1.0, size=2)
            s = float(x @ x)
            if 0.0 < s < 1.0:
                return x, s

    rng = np.random.default_rng(seed)
    (x1, x2), s = disk(rng)
    expected = [2 * x1 * np.sqrt(1 - s), 2 * x2 * np.sqrt(1 - s), 1 - 2 * s]
    got = sample_from_hyper_sphere_surface(3, "Marsaglia", rng=seed)
    np.testing.assert_allclose(got.numpy(), np.float32(expected), rtol=1e-6, atol=0)
    rng = np.random.default_rng(seed)
    (x1, x2), s1 = disk(rng)
    (x3, x4), s2 = disk(rng)
    r = np.sqrt((1 - s1) / s2)
    got = sample_from_hyper_sphere_surface(4, "Marsaglia", rng=seed)
    np.testing.assert_allclose(got.numpy(), np.float32([x1, x2, x3 * r, x4 * r]), rtol=1e-6, atol=0)


def test_global_rngs_untouched():
    # Read, never set, the global states: the test must not seed anything globally either.
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    for method, num_dim in _CASES:
        sample_from_hyper_sphere_surface(num_dim, method)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize(
    ("num_dim", "method", "rng", "error", "match"),
    [
        (
            3,
            "gauss",
            None,
            ValueError,
            r"method must be one of \['uniform', 'normal', 'Marsaglia'\]",
        ),
        (3, "marsaglia", None, ValueError, r"method must be one of .* got 'marsaglia'"),
        (
            2,
            "Marsaglia",
            None,
            ValueError,
            r"'Marsaglia' is only defined for num_dim 3 or 4, got 2",
        ),
        (5, "Marsaglia", None, ValueError, r"'Marsaglia' is only defined .* got 5"),
        (11, "uniform", None, ValueError, r"num_dim <= 10 .* got num_dim=11; use method 'normal'"),
        (0, "normal", None, ValueError, r"num_dim must be an int >= 1, got 0"),
        (2.0, "normal", None, TypeError, r"num_dim must be an int >= 1, got 2.0"),
        (True, "normal", None, TypeError, r"num_dim must be an int >= 1, got True"),
        (3, "normal", "seed", TypeError, r"rng must be None, an int >= 0 or a numpy.random.Gen"),
        (3, "normal", 1.5, TypeError, r"rng must be None, .* got 1.5"),
        (3, "normal", -1, ValueError, r"rng must be None, an int >= 0 .* got -1"),
    ],
)
def test_validation_errors(num_dim, method, rng, error, match):
    with pytest.raises(error, match=match):
        sample_from_hyper_sphere_surface(num_dim, method, rng)


def test_importing_gymsamp_stats_loads_neither_torch_nor_other_gymsamp_modules():
    # gymsamp.stats stands alone: beyond what `import gymsamp` loads, it adds only itself.
    code = (
        "import sys, gymsamp\n"
        "before = set(sys.modules)\n"
        "import gymsamp.stats\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "other = [m for m in set(sys.modules) - before if m.startswith('gymsamp')"
        " and not m.startswith('gymsamp.stats')]\n"
        "assert not other, other\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


class _ZeroFirst(np.random.Generator):
    """A generator whose first standard-normal draw is the origin (probability zero)."""

    def __init__(self) -> None:
        super().__init__(np.random.PCG64(0))
        self.draws = 0

    def standard_normal(self, *args, **kwargs):
        self.draws += 1
        if self.draws == 1:
            return np.zeros(args[0])
        return super().standard_normal(*args, **kwargs)


def test_normal_method_draws_again_where_a_draw_has_no_direction():
    rng = _ZeroFirst()
    x = sample_from_hyper_sphere_surface(3, "normal", rng).numpy()
    expected = np.random.Generator(np.random.PCG64(0)).standard_normal(3)
    np.testing.assert_allclose(x, expected / np.linalg.norm(expected), rtol=1e-6)
    assert rng.draws == 2
