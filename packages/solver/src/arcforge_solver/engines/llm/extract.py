"""Programs out of model text.

Models answer in many shapes: one fenced block, several blocks (helpers in one, `solve` in another), no
fence at all, prose around the code, a block cut off by the token limit, `transform` instead of `solve`,
test calls and prints at the top level. `extract_program` turns any of these into one module that defines
`solve(grid)`, keeping only imports, definitions and constant assignments, or returns None when there is
no program. Nothing here runs the code: every program still goes through the sandbox.
"""

from __future__ import annotations

import ast
import re

HEADER = "import numpy as np\nfrom arcforge_solver.dsl import *\n"
"""Prepended to every program so that model code may use numpy and the DSL without importing them."""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(?:import |from \w|def |class |@|[A-Za-z_]\w* *=)", re.MULTILINE)
_SOLVE_ALIASES = (
    "transform",
    "solution",
    "solve_task",
    "apply_rule",
    "main",
    "f",
    "program",
    "solver",
    "rule",
)
_KEPT = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def code_blocks(text: str) -> list[str]:
    """Fenced blocks (a final unclosed fence counts), non-Python languages skipped; else the text from
    the first line that looks like code."""
    blocks = [
        body for language, body in _FENCE.findall(text) if language.lower() in ("", "python", "py", "python3")
    ]
    if blocks:
        return [b for b in blocks if b.strip()]
    match = _CODE_START.search(text)
    return [text[match.start() :]] if match else []


def _parse_prefix(source: str) -> ast.Module | None:
    """Parse `source`, dropping lines from the end until it parses (the model was cut off mid-line)."""
    lines = source.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except (SyntaxError, ValueError):
            continue
    return None


def _kept_source(source: str, module: ast.Module) -> tuple[str, set[str]]:
    """The top-level imports, definitions and constants of `module`, as their original text, plus the
    names of the functions defined."""
    lines = source.splitlines()
    pieces: list[str] = []
    functions: set[str] = set()
    for node in module.body:
        if not isinstance(node, _KEPT):
            continue  # prints, test calls, `if __name__ == "__main__":` blocks
        if isinstance(node, ast.ImportFrom | ast.Import) and _forbidden_import(node):
            continue
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno or node.lineno
        pieces.append("\n".join(lines[start - 1 : end]))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.add(node.name)
    return "\n".join(pieces), functions


def _forbidden_import(node: ast.Import | ast.ImportFrom) -> bool:
    """Imports that would fail or misbehave in the sandbox anyway; dropping them gives the rest a chance."""
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    return any(name.split(".")[0] in ("os", "sys", "subprocess", "socket", "shutil") for name in names)


def _single_argument_functions(module: ast.Module) -> list[str]:
    return [
        node.name
        for node in module.body
        if isinstance(node, ast.FunctionDef) and len(node.args.args) >= 1 and not node.name.startswith("_")
    ]


def extract_program(text: str) -> str | None:
    """One program defining `solve(grid)` from model output, or None when there is none."""
    kept: list[str] = []
    functions: set[str] = set()
    candidates: list[str] = []
    for block in code_blocks(text):
        module = _parse_prefix(block)
        if module is None:
            continue
        source, defined = _kept_source(block, module)
        if not source.strip():
            continue
        kept.append(source)
        functions |= defined
        candidates.extend(_single_argument_functions(module))
    if not kept:
        return None
    body = "\n\n".join(kept)
    if "solve" not in functions:
        alias = next((name for name in _SOLVE_ALIASES if name in functions), None)
        if alias is None and candidates:
            alias = candidates[-1]  # the last function defined is usually the entry point
        if alias is None:
            return None
        body += f"\n\n\nsolve = {alias}"
    program = HEADER + "\n" + body.strip() + "\n"
    try:
        ast.parse(program)
    except SyntaxError:
        return None
    return program


def canonical(program: str) -> str:
    """A form of the program that ignores comments, blank lines and formatting, for deduplication."""
    try:
        return ast.dump(ast.parse(program))
    except SyntaxError:
        return program


def complexity(program: str) -> int:
    """How big a program is, in AST nodes outside the header: ties in fitness prefer smaller programs."""
    try:
        return sum(1 for _ in ast.walk(ast.parse(program))) - sum(1 for _ in ast.walk(ast.parse(HEADER)))
    except SyntaxError:
        return 10_000
