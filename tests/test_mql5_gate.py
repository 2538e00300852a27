"""The MQL5 sources without a terminal: the syntax gate passes them and catches planted errors, the MQL rules
hold, the built-in list is exactly what we call, the twin has the MQL5 code's names and constants, and the
self-test script expects exactly vectors.json."""

from __future__ import annotations

import importlib
import re

import pytest

from mql5check import gate, selftest

FILES = [str(p.relative_to(gate.ROOT)) for p in gate.sources()]
INCLUDE = "mql5/Include/Mt5Bridge/"


def test_the_sources_are_all_there():
    assert set(FILES) >= {INCLUDE + "Protocol.mqh", INCLUDE + "Zmtp.mqh", INCLUDE + "Subscriber.mqh",
                          "mql5/Experts/Mt5BridgeMonitor.mq5", "mql5/Scripts/Mt5BridgeSelfTest.mq5",
                          "mql5/Indicators/Mt5BridgeLatent.mq5"}


def test_every_mql5_file_passes_the_gate():
    problems = gate.check()
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("path", FILES)
def test_prepass_keeps_every_line_and_column(path):
    text = (gate.ROOT / path).read_text()
    before, after = text.splitlines(), gate.prepass(text).splitlines()
    assert [len(line) for line in before] == [len(line) for line in after]


def test_prepass_blanks_only_mql_tokens():
    text = ('#property strict\ninput int InpA = 5; // x\nsinput string InpB = "s";\ninput group "G"\n'
            "color c = C'1,2,3'; datetime d = D'2024.01.01';\n")
    out = gate.prepass(text)
    assert out.splitlines() == [" " * 16, "      int InpA = 5; // x", "       string InpB = \"s\";", " " * 15,
                                "color c = " + "0".ljust(8) + "; datetime d = " + "0".ljust(13) + ";"]
    assert gate.syntax_problems("x", gate.parse(text)) == []


def _tokens(text: str, kind: str) -> list[int]:
    """Byte offsets of real `kind` tokens (not inside strings or comments)."""
    tree = gate.parse(text)
    return [n.start_byte for n in gate._walk(tree.root_node) if n.type == kind and n.child_count == 0]


@pytest.mark.parametrize("token", [";", ")", "}"])
@pytest.mark.parametrize("path", FILES)
def test_gate_catches_a_planted_missing_token(path, token):
    text = (gate.ROOT / path).read_text()
    raw = text.encode()
    offsets = _tokens(text, token)
    assert offsets
    picks = sorted({offsets[0], offsets[len(offsets) // 3], offsets[len(offsets) // 2], offsets[-1]})
    for at in picks:
        broken = (raw[:at] + raw[at + 1:]).decode()
        found = [p for p in gate.check({path: broken}) if p.path == path]
        line = raw[:at].count(b"\n") + 1
        assert found, f"removing '{token}' at line {line} of {path} went unnoticed"


PLANTED = {
    "arrow": ("void F(CZmtpSubscriber *z) { z->Stop(); }", "'->'"),
    "auto": ("void F() { auto x = 1; Print(x); }", "'auto'"),
    "lambda": ("void F() { int x = [](int a) { return a; }(1); }", "lambdas"),
    "import": ('#import "kernel32.dll"\nint Sleep(int ms);\n#import\n', "#import"),
    "array_by_value": ("void F(uchar b[]) { }", "must be passed by reference"),
    "unknown_function": ("void F() { memcpy(0, 0, 0); }", "'memcpy' is neither defined"),
    "method_typo": ("CZmtpSubscriber z; void F() { z.Pmup(); }", "'Pmup' is neither defined"),
    "unsigned": ("unsigned int x = 1;", "no unsigned"),
    "nullptr": ("void F() { Print(nullptr); }", "nullptr"),
    "include": ("#include <Mt5Bridge/Nope.mqh>\n", "no such file"),
    "exceptions": ("void F() { try { F(); } catch(...) { } }", "no exceptions"),
    "adjacent_literals": ('string s = "a" "b";', "join them with +"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_mql_rules_catch_planted_constructs(name):
    source, expected = PLANTED[name]
    found = [p for p in gate.check({"mql5/Experts/Planted.mq5": source}) if p.path.endswith("Planted.mq5")]
    assert any(expected in p.what for p in found), found


def test_builtins_list_is_exactly_what_we_call():
    listed = gate.builtins()
    trees = {p: gate.parse((gate.ROOT / p).read_text()) for p in FILES}
    called = {name for tree in trees.values() for _, name in gate.called_names(tree)}
    assert listed <= called, f"listed but never called: {sorted(listed - called)}"
    assert not listed & gate.definitions(trees), "a listed built-in is also defined by us"
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in listed)


def test_selftest_script_expects_exactly_vectors_json():
    script = selftest.SCRIPT.read_text()
    assert selftest.current_block(script) == selftest.expected_block(), \
        "regenerate: PYTHONPATH=. python tests/mql5check/selftest.py"


# --- the twin keeps the MQL5 code's names and constants

TWINS = {"Protocol.mqh": "protocol", "Zmtp.mqh": "zmtp", "Subscriber.mqh": "subscriber"}
CTOR_DTOR = re.compile(r"^~?C[A-Z]\w*$")


def _top_level(node):
    """Declarations at file scope, include guards (#ifndef ... #endif) looked through."""
    for child in node.children:
        if child.type in ("preproc_ifdef", "preproc_if"):
            yield from _top_level(child)
        else:
            yield child


def _mql_names(path: str) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
    """(free functions, {class: methods}, {struct or class: data members}) declared in an .mqh."""
    tree = gate.parse((gate.ROOT / path).read_text())
    functions, classes, members = set(), {}, {}
    for node in _top_level(tree.root_node):
        if node.type == "function_definition":
            name = gate._declared_name(node.child_by_field_name("declarator"))
            if name and "::" not in gate._text(node.child_by_field_name("declarator")):
                functions.add(name)
        elif node.type in ("class_specifier", "struct_specifier", "union_specifier"):
            body = node.child_by_field_name("body")
            methods, data = set(), set()
            for member in body.named_children if body else []:
                if member.type not in ("function_definition", "field_declaration", "declaration"):
                    continue
                declarator = member.child_by_field_name("declarator")
                name = gate._declared_name(declarator)
                if name:
                    if not CTOR_DTOR.match(name):
                        methods.add(name)
                elif declarator is not None:
                    data.add(re.match(r"\w+", gate._text(declarator)).group(0))
            cls = gate._text(node.child_by_field_name("name"))
            if methods:
                classes[cls] = methods
            if node.type != "union_specifier":
                members[cls] = data
    return functions, classes, members


def _mql_constants(path: str) -> dict[str, object]:
    text = (gate.ROOT / path).read_text()
    out = {}
    for name, value in re.findall(r"^#define\s+(\w+)\s+(\S+)", text, re.M):
        if not name.endswith("_MQH"):
            out[name] = value.strip('"') if value.startswith('"') else int(value, 0)
    for name, value in re.findall(r"^\s+(\w+)\s*=\s*(\d+)\s*,?\s*(?://.*)?$", text, re.M):
        out[name] = int(value)  # enum members
    return out


@pytest.mark.parametrize("mqh", sorted(TWINS))
def test_twin_has_the_same_functions_methods_and_constants(mqh):
    twin = importlib.import_module(f"mql5twin.{TWINS[mqh]}")
    functions, classes, members = _mql_names(INCLUDE + mqh)
    assert functions or classes, "nothing found: the test would prove nothing"
    missing = [f for f in functions if not callable(getattr(twin, f, None))]
    assert not missing, f"{mqh} functions without a twin: {missing}"
    for cls, methods in classes.items():
        assert hasattr(twin, cls), f"{cls} has no twin"
        missing = sorted(m for m in methods if not callable(getattr(getattr(twin, cls), m, None)))
        assert not missing, f"{cls} methods without a twin: {missing}"
        extra = sorted(m for m in vars(getattr(twin, cls)) if not m.startswith("_") and callable(
            getattr(getattr(twin, cls), m)) and m not in methods)
        assert not extra, f"the twin of {cls} has methods the MQL5 code has not: {extra}"
    for cls, data in members.items():
        twin_members = set(vars(getattr(twin, cls)()))  # a class's m_* after construction, a struct's fields
        assert twin_members == data, f"{cls}: MQL5 only {sorted(data - twin_members)}, " \
                                     f"twin only {sorted(twin_members - data)}"
    for name, value in _mql_constants(INCLUDE + mqh).items():
        assert getattr(twin, name, None) == value, f"{name}: {value!r} in {mqh}, {getattr(twin, name, None)!r} in twin"
