"""A Griffe extension for the docs build: reads gymsamp's docstrings as the house style means them.

gymsamp's Google docstrings (DESIGN §10) follow Napoleon's reading of the style, which Griffe's
parser differs from in three places; this extension, loaded by ``mkdocs.yml``, rewrites each
docstring before Griffe parses it (source files are not touched):

- the doctest section is titled ``Example:``; Griffe treats only ``Examples:`` as the section
  whose ``>>>`` blocks become code (it would render them as nested Markdown quotes);
- several arguments may share one entry (``clip_lo, clip_up: As for DomainParam.``); Griffe
  would look for one parameter named ``clip_lo, clip_up``, so the entry is repeated per name;
- Sphinx roles (``:class:`~gymsamp.data.EnvSpec```) would show verbatim; they become inline
  code (``EnvSpec``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
# :class:`~pkg.mod.Name` -> `Name`; :func:`pkg.name` -> `pkg.name`; :data:`X` -> `X`.
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
_ARGS_HEADING = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Other Parameters):\s*$")
_GROUPED_ENTRY = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)+):(.*)$")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    if match.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _split_grouped_args(text: str) -> str:
    """Repeat an ``a, b: description`` entry of an arguments section once per name."""
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    for line in lines:
        heading = _ARGS_HEADING.match(line)
        if heading:
            section_indent = len(heading.group(1))
        elif line.strip() and section_indent is not None:
            indent = len(line) - len(line.lstrip())
            if indent <= section_indent:
                section_indent = None  # the section ended
            else:
                entry = _GROUPED_ENTRY.match(line)
                if entry and indent == section_indent + 4:
                    names = [n.strip() for n in entry.group(2).split(",")]
                    out.extend(f"{entry.group(1)}{name}:{entry.group(3)}" for name in names)
                    continue
        out.append(line)
    return "\n".join(out)


def clean_docstring(text: str) -> str:
    """The docstring as Griffe should read it (see the module docstring).

    Example:
        >>> print(clean_docstring(
        ...     "See :class:`~gymsamp.data.EnvSpec`.\\n\\nArgs:\\n    a, b: Bounds.\\n\\n"
        ...     "Example:\\n    Code."))
        See `EnvSpec`.
        <BLANKLINE>
        Args:
            a: Bounds.
            b: Bounds.
        <BLANKLINE>
        Examples:
            Code.
    """
    text = _EXAMPLE_HEADING.sub(r"\1Examples:", text)
    return _ROLE.sub(_role, _split_grouped_args(text))


class GymsampDocstrings(griffe.Extension):
    """Applies :func:`clean_docstring` to every docstring Griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = clean_docstring(obj.docstring.value)
