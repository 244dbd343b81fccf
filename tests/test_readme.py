"""The README's Python code runs as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README must show Python code"
    for block in blocks:
        out = subprocess.run(
            [sys.executable, "-c", block], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr


def test_readme_shows_what_make_demo_prints(tmp_path, capsys):
    # The README's output went stale when domain randomization changed its draws; it is the
    # Makefile's demo command, run here, up to the timing and the files' folder.
    from gymsamp.cli import main

    makefile = (README.parent / "Makefile").read_text()
    command = re.search(r"^demo:.*\n\t\$\(BIN\)/gymsamp (.*)$", makefile, flags=re.M)[1]
    block = r"```\n\$ gymsamp ((?:[^\n]*\\\n)*[^\n]*)\n(.*?)```"  # a command, maybe continued
    shown = re.search(block, README.read_text(), flags=re.S)
    assert re.sub(r"\s*\\\n\s*", " ", shown[1]) == command  # the README shows the demo command
    argv = [arg.replace("runs/demo", str(tmp_path)) for arg in command.split()]
    assert main(argv) == 0
    printed = capsys.readouterr().out.replace(str(tmp_path), "runs/demo")

    def comparable(text):
        # The README shows a 2-core machine's layout; `auto` picks another where there are
        # more cores, and the rollouts (hence every other line) do not depend on it.
        text = re.sub(r"\d+ workers \(\w+\)", "N workers (layout)", text)
        return [line for line in text.splitlines() if not line.startswith("steps/s ")]

    assert comparable(printed) == comparable(shown[2])
