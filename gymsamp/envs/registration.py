"""Registration of gymsamp's toy environments (``gymsamp/...`` ids).

The implementation lives in :mod:`gymsamp._registration`, so ``import gymsamp`` can register
the ids without importing this package.
"""

from gymsamp._registration import TOY_ENV_IDS, register_toy_envs

__all__ = ["TOY_ENV_IDS", "register_toy_envs"]
