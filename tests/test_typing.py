"""What a user's type checker sees of gymsamp (it ships ``py.typed``).

The packages resolve some public names lazily, in a module ``__getattr__``, to keep imports
light; a type checker cannot see through that and typed every such name ``Any``. Each of them
is also imported under ``TYPE_CHECKING``; these tests check that the two lists agree and that
``mypy --strict`` on a user's script (``tests/typing_user_script.py``) sees the types.
"""

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CHECKOUT

SCRIPT = Path(__file__).with_name("typing_user_script.py")

#: Packages with a module ``__getattr__`` that serves public names.
LAZY_PACKAGES = ("gymsamp", "gymsamp.sbi", "gymsamp.envs.adapters")

_STEP_SEQUENCE = r"gymsamp\.data\.step_sequence\.StepSequence"
_NDARRAY = r"numpy\.ndarray\[.*\]"

#: What mypy reveals for each ``# R <name>`` line of the script (a regex, matched in full
#: against the revealed type without ``builtins.`` prefixes). ``Any`` anywhere here is a bug.
EXPECTED = {
    "sampler": r"gymsamp\.sampling\.parallel_rollout_sampler\.ParallelRolloutSampler",
    "sample": rf"list\[{_STEP_SEQUENCE}\]",
    "rollout": _STEP_SEQUENCE,
    "length": r"int",
    "step_types": _NDARRAY,
    "step": r"gymsamp\.data\.step\.Step",
    "slice": _STEP_SEQUENCE,
    "return": r"float",
    "step_type": r"gymsamp\.data\.step_type\.StepType",
    "episode_batch": r"gymsamp\.data\.episode_batch\.EpisodeBatch",
    "time_step_batch": r"gymsamp\.data\.time_step\.TimeStepBatch",
    "concat": _STEP_SEQUENCE,
    "cvar": rf"list\[{_STEP_SEQUENCE}\]",
    "bootstrap": r"tuple\[.*, fallback=gymsamp\.stats\.bootstrapping\.BootstrapResult\]",
    "pes": r"gymsamp\.sampling\.parameter_exploration_sampler\.ParameterSamplingResult",
    "pes_item": (
        rf"tuple\[Any, list\[{_STEP_SEQUENCE}\], "
        r"fallback=gymsamp\.sampling\.parameter_exploration_sampler\.ParameterSample\]"
    ),
    "mean_returns": _NDARRAY,
    "run_map": r"list\[float\]",
    "to_torch": r"torch\._tensor\.Tensor",
    "lazy_adapter": r"def \(.*\) -> gymsamp\.envs\.adapters\.mujoco\.MujocoAdapter",
}


def _type_checking_imports(module_name: str) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name`` lines under ``if TYPE_CHECKING:``
    at the top level of ``module_name``'s source."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None
    tree = ast.parse(Path(str(spec.origin)).read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname in (None, alias.name), ast.unparse(stmt)
                    found[alias.name] = stmt.module
    return found


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_lazy_names_are_imported_for_type_checkers(package_name):
    package = importlib.import_module(package_name)
    seen = _type_checking_imports(package_name)
    # Lazy: public names the package does not bind when imported (its __getattr__ serves
    # them; the top package caches a name in its globals once used, hence the table).
    table = getattr(package, "_HEADLINE", None) or getattr(package, "_NAMES", None)
    lazy = set(table) if table else {n for n in package.__all__ if n not in vars(package)}
    assert lazy  # the check below would pass vacuously
    assert set(seen) == lazy
    for name, module in seen.items():
        # The name a type checker sees is the object the package gives at run time.
        assert package.__getattr__(name) is getattr(importlib.import_module(module), name)


def test_the_top_package_re_exports_explicitly_for_mypy_strict():
    # `from m import X` alone is private under --strict (no_implicit_reexport): gymsamp's
    # __all__ is built from its lazy table, which mypy cannot read, so each import says `as X`.
    spec = importlib.util.find_spec("gymsamp")
    assert spec is not None
    tree = ast.parse(Path(str(spec.origin)).read_text())
    blocks = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1
    aliases = [alias for stmt in blocks[0].body for alias in stmt.names]
    assert aliases  # the check below would pass vacuously
    assert [a.name for a in aliases] == [a.asname for a in aliases]


def _revealed_lines() -> dict[int, str]:
    """``{line: name}`` of the script's ``reveal_type(...)  # R name`` lines."""
    lines = {}
    for number, line in enumerate(SCRIPT.read_text().splitlines(), start=1):
        match = re.search(r"reveal_type\(.*\)\s+# R (\w+)$", line)
        if match:
            lines[number] = match.group(1)
    return lines


@pytest.mark.slow
def test_mypy_strict_sees_the_types_a_user_handles(tmp_path):
    # An empty config: the user's mypy settings, not gymsamp's own (which check gymsamp).
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--strict",
            "--follow-imports=silent",  # gymsamp's own code is checked by its own config
            "--cache-dir",
            str(tmp_path / "cache"),
            str(SCRIPT),
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(CHECKOUT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    revealed = {}
    for line in output.splitlines():
        match = re.match(r".*typing_user_script\.py:(\d+): note: Revealed type is \"(.*)\"$", line)
        if match:
            revealed[int(match.group(1))] = match.group(2).replace("builtins.", "")
    wanted = _revealed_lines()
    assert sorted(wanted.values()) == sorted(EXPECTED)
    assert sorted(revealed) == sorted(wanted), output
    mismatched = {
        wanted[line]: shown
        for line, shown in revealed.items()
        if not re.fullmatch(EXPECTED[wanted[line]], shown)
    }
    assert mismatched == {}
