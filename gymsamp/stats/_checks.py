"""Argument checks shared by the stats modules (gymsamp.stats imports nothing else of gymsamp)."""

from __future__ import annotations

__all__ = ["refuse_grad"]


def refuse_grad(name: str, value: object, doing: str) -> None:
    """Refuse a tensor ``name`` that traces gradients, which ``doing`` does not support: numpy
    would raise torch's own error ("Can't call numpy() ..."), naming no argument.

    Raises:
        ValueError: ``value`` has ``requires_grad=True`` (read without importing torch).

    Example:
        >>> refuse_grad("data", [1.0, 2.0], "bootstrapping")  # no tensor: nothing to refuse
    """
    if getattr(value, "requires_grad", False) is True:
        raise ValueError(
            f"{name} must not require grad ({doing} tensors with gradient tracing is not "
            "supported, detach them first), got a tensor with requires_grad=True"
        )
