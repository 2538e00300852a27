"""A type check of the MQL5 sources with g++ -fsyntax-only, after a small line-preserving rewrite:

- the gate's pre-pass (#property and input blanked);
- arrays: `T name[]` (declarations, members, `T &name[]` parameters) becomes `MqlArray<T> name`, and a fixed
  `T name[N]` becomes `MqlArray<T> name = MqlArray<T>::Fixed(N)`;
- `#resource "path" as T name[]` becomes `MqlArray<T> name = mql5rt::Resource("path", __FILE__);`: the file's bytes,
  read at program start (MetaEditor embeds them at compile time; mql5_runtime_market.h says where it looks);
- everything MQL5 provides comes from mql5_runtime.h (string, the built-ins we call, their constants).

    cd tests && python -m mql5check.gxx   # prints g++'s errors at the MQL5 file's own lines, exits 1 if any

It catches what a syntax gate cannot: a wrong argument count or type, a misspelt member or field, a function
used before it is declared, a missing return. MQL5 is not C++ (implicit conversions, overloads and its own
checks differ), so MetaEditor stays the final word; pointers are not rewritten, as our files use none.

The same rewrite, with `runtime=True` (inputs become settable: `input T name = v;` ->
`T name = mql5rt::Input<T>("name", v);`), is what native.py compiles and runs against the runtime's definitions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mql5check import gate

STUB = Path(__file__).with_name("mql5_runtime.h")
_DECLARATIONS = ("parameter_declaration", "declaration", "field_declaration")


def _array_of(node):
    """The array_declarator inside a declarator (through & and = initialisers), or None."""
    while node is not None:
        if node.type == "array_declarator":
            return node
        if node.type in ("reference_declarator", "init_declarator"):
            node = node.child_by_field_name("declarator") or node.named_children[0]
            continue
        return None
    return None


_INPUT_DECLARATION = re.compile(r"^([ \t]*)(?:input|sinput)([ \t]+)(\w+)([ \t]+)(\w+)([ \t]*)=([ \t]*)([^;\n]+);", re.M)


def settable_inputs(text: str) -> str:
    """`input T name = v;` -> `T name = mql5rt::Input<T>("name", v);` on the same line (MQL5_INPUT_<name>)."""
    return _INPUT_DECLARATION.sub(
        lambda m: f'{m[1]}{m[3]}{m[4]}{m[5]}{m[6]}={m[7]}mql5rt::Input<{m[3]}>("{m[5]}", {m[8]});', text)


_RESOURCE = re.compile(r'^([ \t]*)#resource[ \t]+("(?:[^"\\\n]|\\.)*")[ \t]+as[ \t]+(\w+)[ \t]+(\w+)[ \t]*\[\][ \t]*;?',
                       re.M)


def embedded_resources(text: str) -> str:
    """`#resource "path" as T name[]` -> `MqlArray<T> name = mql5rt::Resource("path", __FILE__);` on the same line."""
    return _RESOURCE.sub(lambda m: f"{m[1]}MqlArray<{m[3]}> {m[4]} = mql5rt::Resource({m[2]}, __FILE__);", text)


def rewrite(text: str, runtime: bool = False) -> str:
    if runtime:
        text = settable_inputs(text)
    text = embedded_resources(text)
    source = gate.prepass(text).encode()
    tree = gate.parse(text)
    edits: list[tuple[int, int, bytes]] = []
    for node in gate._walk(tree.root_node):
        if node.type not in _DECLARATIONS:
            continue
        declarators = node.children_by_field_name("declarator")
        arrays = [a for a in map(_array_of, declarators) if a is not None]
        if not arrays:
            continue
        if len(declarators) > 1:
            raise ValueError(f"line {node.start_point[0] + 1}: declare one array per statement")
        array, kind = arrays[0], node.child_by_field_name("type")
        element = gate._text(kind)
        wrapped = f"MqlArray<{element}>"
        name = gate._text(array.child_by_field_name("declarator"))
        size = array.child_by_field_name("size")
        replacement = name if size is None else f"{name} = {wrapped}::Fixed({gate._text(size)})"
        edits.append((kind.start_byte, kind.end_byte, wrapped.encode()))
        edits.append((array.start_byte, array.end_byte, replacement.encode()))
    for start, end, new in sorted(edits, reverse=True):
        source = source[:start] + new + source[end:]
    return source.decode()


def _command(root: Path, path: str) -> list[str]:
    """A program (.mq5) is compiled for real, which makes g++ check that every path returns a value (MetaEditor
    refuses a function that does not); an include (.mqh) is syntax-checked on its own, to show it stands alone."""
    mode = ["-c", "-o", os.devnull, "-Werror=return-type"] if path.endswith(".mq5") else ["-fsyntax-only"]
    return ["g++", "-std=c++17", *mode, "-x", "c++", "-include", str(STUB), "-I", str(root / "mql5" / "Include"),
            str(root / path)]


def compile_all(texts: dict[str, str] | None = None, only: list[str] | None = None) -> tuple[bool, str]:
    """Rewrites every MQL5 file (`texts` replacing some) into a temporary tree and checks each (or `only` those)
    with g++. Returns (no error, g++'s messages with the repository's paths)."""
    texts = dict(texts or {})
    for p in gate.sources():
        texts.setdefault(str(p.relative_to(gate.ROOT)), p.read_text())
    ok, log = True, ""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, text in texts.items():
            out = root / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(rewrite(text))
        # one g++ per file, side by side (CI has 2 cores): the runtime header makes each compile heavier
        runs = [subprocess.Popen(_command(root, path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for path in sorted(only or texts)]
        for run in runs:
            stderr = run.communicate()[1]
            ok = ok and run.returncode == 0
            log += stderr.replace(str(root) + "/", "")
    errors = [line for line in log.splitlines() if re.search(r": (fatal )?error: ", line)]
    return ok and not errors, log


def available() -> bool:
    return shutil.which("g++") is not None


def main() -> int:
    ok, log = compile_all()
    print(log, end="")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
