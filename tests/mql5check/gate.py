"""A syntax gate for MQL5 sources without MetaEditor: tree-sitter's C++ grammar, after a line-preserving pre-pass
that blanks what only MQL5 has, plus cheap MQL5 rules on the same tree.

    python tests/mql5check/gate.py   # every .mq5/.mqh under mql5/; prints problems, exits 1 if any

It is a gate, not a compiler: it catches broken syntax (a missing ';', ')' or '}'), calls to functions that
exist nowhere (a typo, a C library call), C++-only constructs MQL5 rejects. Types, overloads and MQL5's own
semantic rules are left to MetaEditor (and partly to gxx.py).
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import tree_sitter
import tree_sitter_cpp

ROOT = Path(__file__).resolve().parents[2]
MQL5 = ROOT / "mql5"
BUILTINS_FILE = Path(__file__).with_name("builtins.txt")
LANGUAGE = tree_sitter.Language(tree_sitter_cpp.language())

_PROPERTY = re.compile(r"^[ \t]*#property\b.*$", re.M)
_INPUT_GROUP = re.compile(r"^[ \t]*input[ \t]+group\b.*$", re.M)
_INPUT = re.compile(r"^([ \t]*)(input|sinput)\b", re.M)
_LITERAL = re.compile(r"\b[CD]'[^'\n]*'")  # color C'128,128,128' and datetime D'2024.01.01 00:00'


def sources() -> list[Path]:
    return sorted(p for p in MQL5.rglob("*") if p.suffix in (".mq5", ".mqh"))


def builtins() -> set[str]:
    names = set()
    for line in BUILTINS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def _blank(match: re.Match) -> str:
    return " " * len(match.group(0))


def prepass(text: str) -> str:
    """MQL5 -> C++ that tree-sitter parses, with every remaining token at its original line and column."""
    text = _PROPERTY.sub(_blank, text)
    text = _INPUT_GROUP.sub(_blank, text)
    text = _INPUT.sub(lambda m: m.group(1) + " " * len(m.group(2)), text)
    return _LITERAL.sub(lambda m: "0".ljust(len(m.group(0))), text)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int  # 1-based
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@functools.lru_cache(maxsize=64)
def parse(text: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(LANGUAGE).parse(prepass(text).encode())


def _walk(node: tree_sitter.Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: tree_sitter.Node | None) -> str:
    return node.text.decode() if node is not None else ""


def syntax_problems(path: str, tree: tree_sitter.Tree) -> list[Problem]:
    out = []
    for node in _walk(tree.root_node):
        if node.is_missing:
            out.append(Problem(path, node.start_point[0] + 1, f"missing '{node.type}'"))
        elif node.type == "ERROR":
            out.append(Problem(path, node.start_point[0] + 1, f"syntax error near {_text(node)[:40]!r}"))
    return out


def _declared_name(declarator: tree_sitter.Node | None) -> str | None:
    """The name a function declarator declares (f, C::f, ~C)."""
    while declarator is not None and declarator.type in ("pointer_declarator", "reference_declarator"):
        declarator = declarator.named_children[-1]
    if declarator is None or declarator.type != "function_declarator":
        return None
    name = declarator.child_by_field_name("declarator")
    if name is not None and name.type == "qualified_identifier":
        name = name.child_by_field_name("name")
    return _text(name)


def definitions(trees: dict[str, tree_sitter.Tree]) -> set[str]:
    """Every function, method and function-like macro our files define or declare."""
    names = set()
    for tree in trees.values():
        for node in _walk(tree.root_node):
            if node.type in ("function_definition", "field_declaration", "declaration"):
                name = _declared_name(node.child_by_field_name("declarator"))
                if name:
                    names.add(name)
            elif node.type == "preproc_function_def":
                names.add(_text(node.child_by_field_name("name")))
    return names


# MQL5's value types: "(uchar)(x >> 8)" parses as a call of "(uchar)"; it is a cast.
MQL5_TYPES = {"bool", "char", "uchar", "short", "ushort", "int", "uint", "long", "ulong", "float", "double",
              "string", "datetime", "color"}


def called_names(tree: tree_sitter.Tree) -> list[tuple[int, str]]:
    out = []
    for node in _walk(tree.root_node):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        if function.type == "parenthesized_expression" and _text(function)[1:-1].strip() in MQL5_TYPES:
            continue
        if function.type == "field_expression":
            function = function.child_by_field_name("field")
        elif function.type == "qualified_identifier":
            function = function.child_by_field_name("name")
        out.append((node.start_point[0] + 1, _text(function)))
    return out


FORBIDDEN_NODES = {
    "lambda_expression": "lambdas do not exist in MQL5",
    "try_statement": "no exceptions in MQL5",
    "throw_statement": "no exceptions in MQL5",
    "namespace_definition": "keep to plain MQL5: no namespaces",
    "using_declaration": "no 'using' in MQL5",
    "nullptr": "MQL5 has NULL, not nullptr",
    "concatenated_string": "adjacent string literals: join them with + (not sure MQL5 concatenates them)",
}


def rule_problems(path: str, text: str, tree: tree_sitter.Tree, known: set[str]) -> list[Problem]:
    out = []
    for node in _walk(tree.root_node):
        line = node.start_point[0] + 1
        if node.type in FORBIDDEN_NODES:
            out.append(Problem(path, line, FORBIDDEN_NODES[node.type]))
        elif node.type == "sized_type_specifier" and re.search(r"\b(unsigned|signed)\b|long\s+long", _text(node)):
            out.append(Problem(path, line, "MQL5 spells them uchar/ushort/uint/ulong: no unsigned, signed, long long"))
        elif node.type == "field_expression" and _text(node.child_by_field_name("operator")) == "->":
            out.append(Problem(path, line, "'->': MQL5 reaches members through pointers with '.'"))
        elif node.type == "placeholder_type_specifier" or (node.type == "auto"):
            out.append(Problem(path, line, "'auto' is not MQL5"))
        elif node.type == "parameter_declaration":
            declarator = node.child_by_field_name("declarator")
            if declarator is not None and declarator.type == "array_declarator":
                out.append(Problem(path, line, f"array parameter '{_text(declarator)}' must be passed by reference"))
        elif node.type == "preproc_include":
            out += _include_problems(path, line, _text(node.child_by_field_name("path")))
    for lineno, line_text in enumerate(text.splitlines(), 1):
        if re.match(r"\s*#import\b", line_text):
            out.append(Problem(path, lineno, "#import: no DLLs"))
    for line, name in called_names(tree):
        if name not in known:
            out.append(Problem(path, line, f"'{name}' is neither defined in mql5/ nor listed in builtins.txt"))
    return out


def _include_problems(path: str, line: int, target: str) -> list[Problem]:
    name = target[1:-1]
    if target.startswith("<"):
        where = MQL5 / "Include" / name
    else:
        where = (ROOT / path).parent / name
    if where.is_file():
        return []
    return [Problem(path, line, f"#include {target}: no such file under mql5/")]


def check(texts: dict[str, str] | None = None) -> list[Problem]:
    """Problems in our MQL5 files; `texts` replaces (or adds) files by their path relative to the repository."""
    texts = dict(texts or {})
    for p in sources():
        texts.setdefault(str(p.relative_to(ROOT)), p.read_text())
    trees = {path: parse(text) for path, text in texts.items()}
    known = definitions(trees) | builtins()
    problems = []
    for path, tree in trees.items():
        problems += syntax_problems(path, tree)
        problems += rule_problems(path, texts[path], tree, known)
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
