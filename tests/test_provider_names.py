"""Nothing outside a provider's own files learns its name (issue 13, defect 6): no module outside
``providers/defs``, ``providers/hooks`` and ``sim`` imports a provider's code or names a function,
class or variable after a provider. Docstrings and comments may mention providers as examples."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deskhand"
OWN = ("providers/defs/", "providers/hooks/", "sim/")
NAMES = re.compile(r"zendesk|jira|adf", re.I)


def shared_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not p.relative_to(PACKAGE).as_posix().startswith(OWN))


def provider_names(source: str) -> list[str]:
    """Imported modules and names defined or used (not strings, docstrings or comments) naming a provider."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(a.name for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in names if NAMES.search(n)]
    return found


def test_no_shared_module_names_a_provider() -> None:
    offenders = {p.relative_to(PACKAGE).as_posix(): found for p in shared_modules()
                 if (found := provider_names(p.read_text(encoding="utf-8")))}
    assert offenders == {}, "ask deskhand.sim.registry or the definition instead"


@pytest.mark.parametrize(("source", "found"), [
    ("from deskhand.sim import zendesk\n", True),
    ("import deskhand.providers.hooks.jira_adf\n", True),
    ("def jira_truth(state): ...\n", True),
    ("x = spec.zendesk_loop\n", True),
    ('"""Zendesk\'s incremental export, e.g."""\nx = 1  # like Jira\n', False),
    ("from deskhand.sim import registry\n", False),
], ids=["import-module", "import-hook", "function", "attribute", "docs-and-comments", "registry"])
def test_the_check_finds_code_names_and_spares_documentation(source: str, found: bool) -> None:
    assert bool(provider_names(source)) is found
