"""Garbage collection's order of finalization, reproduced for the vector envs' tests.

When garbage collection frees a reference cycle, it finalizes the cycle's objects in any
order. A vector env's pipe Connections may go before the env: ``Connection.__del__`` closes
the fd but keeps its number, so the env's own ``__del__`` must not close them again (a second
close fails with EBADF or, were the number reused meanwhile, closes another file).
"""

from __future__ import annotations

from multiprocessing.connection import Connection


def finalize_before_owner(conns: list[Connection]) -> list[Connection]:
    """Finalize ``conns`` as garbage collection may before their owner; returns the list that
    records every later attempt to close one (recorded instead of made)."""
    second_closes: list[Connection] = []
    for conn in conns:
        conn.__del__()  # type: ignore[attr-defined]
        conn._close = lambda conn=conn: second_closes.append(conn)  # type: ignore[method-assign]
    return second_closes
