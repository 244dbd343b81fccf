"""Settings shared by every test directory."""

from hypothesis import HealthCheck, settings

# The property tests (tests/*/test_properties.py) run the same generated examples on every run
# and machine (derandomized, no example database written into the checkout), and no example
# fails for its wall time: CI's 2 cores are shared. Hypothesis also mixes in constants it finds
# in the modules loaded so far, so a property may meet an input in the whole suite that it does
# not meet alone: pin such a counterexample with @example next to the fix.
settings.register_profile(
    "gymsamp",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("gymsamp")
