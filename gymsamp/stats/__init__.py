"""Statistics helpers: bootstrap confidence intervals, hypersphere sampling and schedules.

This subpackage stands alone (it imports nothing else from gymsamp) and loads torch only inside
:func:`sample_from_hyper_sphere_surface`.
"""

from gymsamp.stats.bootstrapping import BootstrapResult, DegenerateBootstrapWarning, bootstrap_ci
from gymsamp.stats.hyper_sphere import sample_from_hyper_sphere_surface
from gymsamp.stats.sequences import (
    sequence,
    sequence_add_init,
    sequence_const,
    sequence_nlog2,
    sequence_plus_one,
    sequence_rec_double,
    sequence_rec_sqrt,
    sequence_sqrt,
)

__all__ = [
    "BootstrapResult",
    "DegenerateBootstrapWarning",
    "bootstrap_ci",
    "sample_from_hyper_sphere_surface",
    "sequence",
    "sequence_add_init",
    "sequence_const",
    "sequence_nlog2",
    "sequence_plus_one",
    "sequence_rec_double",
    "sequence_rec_sqrt",
    "sequence_sqrt",
]
