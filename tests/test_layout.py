"""The architecture's rules, checked on the source.

pages -> core -> store; connectors stand alone; core is one package per domain whose allowed
dependencies are stated below as data; one job catalog; the app never imports the command line.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Which core packages each may import (besides itself). Read a row as "X may import ...".
# A domain depends only on what sits below it; anything not listed is a layering fault.
ALLOWED: dict[str, set[str]] = {
    "platform": set(),
    "accounts": {"platform"},
    "bison": {"platform", "accounts"},
    "campaigns": {"platform", "accounts", "bison"},
    "copylab": {"platform"},
    "overview": {"platform"},
    "pipeline": {"platform", "accounts"},
    "contacts": {"platform", "accounts", "bison"},
    "territories": {"platform", "accounts"},
    "revenue": {"platform", "accounts"},
    "replies": {"platform", "accounts", "bison"},
    "guardrails": {"platform", "accounts", "campaigns", "copylab", "overview"},
    "demo": {"platform", "accounts", "replies"},
    "setup": {"platform", "accounts", "bison", "pipeline", "revenue"},
    "catalog": {"platform", "accounts", "bison", "campaigns", "demo", "guardrails", "pipeline"}
    | {"replies", "contacts"}
    | {"revenue", "setup", "territories"},
    "app": {"platform", "catalog", "guardrails", "replies", "revenue"},
    "cli": {"platform", "catalog", "app", "accounts", "bison", "pipeline"},
}
# Only these may import the demo generator and the command line.
DEMO_IMPORTERS = {"catalog", "cli", "demo"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "core":  # `from core import catalog`
                out |= {f"core.{a.name}" for a in node.names}
    return out


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def core_package(module: str) -> str:
    return module.split(".")[1]


def test_core_never_imports_streamlit():
    launcher = ROOT / "core" / "cli" / "serve.py"  # `leadops serve` starts the web server
    for f in files("core"):
        mods = imports(f)
        if f == launcher:
            assert {m for m in mods if m.startswith("streamlit")} == {"streamlit.web"}, mods
            continue
        assert not any(m == "streamlit" or m.startswith("streamlit.") for m in mods), f


def test_connectors_never_touch_the_store_or_the_ui():
    for f in files("connectors"):
        bad = {
            m
            for m in imports(f)
            if m.split(".")[0] in ("duckdb", "streamlit") or m.startswith("core")
        }
        assert not bad, f"{f} imports {bad}"


def test_pages_call_core_not_connectors():
    for f in files("pages") + [ROOT / "streamlit_app.py"]:
        assert not any(m.startswith("connectors") for m in imports(f)), f


def test_core_packages_import_only_what_the_matrix_allows():
    packages = {core_package(module_name(f)) for f in files("core") if f.parent != ROOT / "core"}
    packages |= {f.stem for f in (ROOT / "core").glob("*.py") if f.stem != "__init__"}
    assert packages == set(ALLOWED), "a core package is missing from (or extra in) ALLOWED"
    faults = []
    for f in files("core"):
        mod = module_name(f)
        if mod == "core":
            continue
        pkg = core_package(mod)
        for m in imports(f):
            if m.startswith("core.") and core_package(m) != pkg:
                if core_package(m) not in ALLOWED[pkg]:
                    faults.append(f"{f.relative_to(ROOT)} imports {m}")
    assert not faults, "\n".join(faults)


def test_the_package_graph_has_no_cycle():
    seen: dict[str, int] = {}

    def visit(pkg: str, path: list[str]) -> None:
        if seen.get(pkg) == 1:
            raise AssertionError(" -> ".join([*path, pkg]))
        if seen.get(pkg) == 2:
            return
        seen[pkg] = 1
        for dep in sorted(ALLOWED[pkg]):
            visit(dep, [*path, pkg])
        seen[pkg] = 2

    for pkg in ALLOWED:
        visit(pkg, [])


def test_nothing_imports_the_command_line_or_the_demo_but_their_owners():
    for f in files("core") + files("pages") + [ROOT / "streamlit_app.py"]:
        mod = module_name(f)
        owner = core_package(mod) if mod.startswith("core.") else "pages"
        for m in imports(f):
            if m.startswith("core.cli"):
                assert owner == "cli", f"{f.relative_to(ROOT)} imports the command line ({m})"
            if m.startswith("core.demo"):
                assert owner in DEMO_IMPORTERS, f"{f.relative_to(ROOT)} imports the demo ({m})"
        if owner != "cli":
            assert "typer" not in imports(f), f"{f.relative_to(ROOT)} imports typer"


def _job_kinds_named_in_source() -> set[str]:
    pattern = re.compile(
        r"""(?:jobs\.start|jobs\.run|jobs\.call|run_job|inbox\.submit)\(\s*(?:[\w.()]+,\s*)*?["']([a-z_]+\.?[a-z_.]*)["']"""
    )
    kinds: set[str] = set()
    for f in files("core") + files("pages") + [ROOT / "streamlit_app.py"]:
        kinds |= set(pattern.findall(f.read_text()))
    return kinds


def test_importing_the_catalog_alone_registers_every_job_a_caller_names():
    named = _job_kinds_named_in_source()
    assert {"sync.bison", "contacts.import", "crm.deliver", "replies.process"} <= named
    out = subprocess.run(
        [sys.executable, "-c", "import core.catalog as c; print('\\n'.join(c.job_kinds()))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = named - set(out)
    assert not missing, f"job kinds named by callers but not registered by the catalog: {missing}"


def test_the_app_runtime_does_not_load_the_command_line():
    code = (
        "import sys, core.app, streamlit_app\n"
        "bad = sorted(m for m in sys.modules if m.startswith('core.cli') or m == 'typer')\n"
        "print(' '.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"the app loads {out}"


def test_modules_stay_small_without_packing_lines():
    for folder in ("core", "connectors", "pages"):
        for f in files(folder):
            text = f.read_text()
            n = len(text.splitlines())
            assert n <= 600, f"{f.relative_to(ROOT)} has {n} lines; split it by concept"
            assert "fmt: skip" not in text, f"{f.relative_to(ROOT)} packs lines with fmt: skip"


_WRITE = re.compile(r"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(bison_\w+)", re.I)
_FRAME_WRITE = re.compile(r"(?:upsert|insert_frame|_insert)\(\s*\w+,\s*[\"'](bison_\w+)[\"']")
# The one writer of each Email Bison table. The demo generator is left out on purpose: it stands
# in for Email Bison itself, fabricating in bulk what a sync would bring into an empty store.
MIRROR_WRITER = "core/bison/mirror.py"
OWN_WRITERS = {"bison_webhook_events": "core/bison/ingest.py"}  # the receiver's own event log


def test_each_email_bison_table_has_one_writer_module():
    writers: dict[str, set[str]] = {}
    for f in files("core"):
        rel = str(f.relative_to(ROOT))
        if rel.startswith(("core/demo/", "core/platform/migrations/")):
            continue
        text = f.read_text()
        for table in set(_WRITE.findall(text)) | set(_FRAME_WRITE.findall(text)):
            writers.setdefault(table, set()).add(rel)
    assert writers, "no writes found: the patterns no longer match the code"
    for table, mods in sorted(writers.items()):
        assert mods == {OWN_WRITERS.get(table, MIRROR_WRITER)}, f"{table} is written by {mods}"
