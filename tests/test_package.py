import subprocess
import sys

import gymsamp


def test_import_gymsamp_loads_no_heavy_dependency():
    code = (
        "import sys, gymsamp, gymsamp.data, gymsamp.stats\n"
        "heavy = {'torch', 'sbi', 'ray', 'matplotlib', 'pandas', 'dtw'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_headline_names_are_importable_from_the_top():
    from gymsamp.data import EpisodeBatch, StepSequence, StepType, TimeStepBatch
    from gymsamp.stats import bootstrap_ci

    assert gymsamp.StepType is StepType
    assert gymsamp.StepSequence is StepSequence
    assert gymsamp.EpisodeBatch is EpisodeBatch
    assert gymsamp.TimeStepBatch is TimeStepBatch
    assert gymsamp.bootstrap_ci is bootstrap_ci
    assert isinstance(gymsamp.__version__, str)


PUBLIC_MODULES = (
    "gymsamp",
    "gymsamp.data",
    "gymsamp.envs",
    "gymsamp.policies",
    "gymsamp.sampling",
    "gymsamp.stats",
    "gymsamp.sbi",
    "gymsamp.plot",
    "gymsamp.summary",
)


def test_every_public_class_and_function_shows_a_runnable_example():
    # DESIGN §10: Google docstrings with runnable examples (pytest runs them as doctests).
    import importlib
    import inspect

    lacking = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and ">>>" not in (
                inspect.getdoc(obj) or ""
            ):
                lacking.append(f"{module_name}.{name}")
    assert lacking == []
