"""The architecture's rules, checked on the source: pages -> core -> store; connectors stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_core_never_imports_streamlit():
    for f in files("core"):
        assert not any(m == "streamlit" or m.startswith("streamlit.") for m in imports(f)), f


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


def test_modules_stay_small():
    for folder in ("core", "connectors", "pages"):
        for f in files(folder):
            n = len(f.read_text().splitlines())
            assert n <= 650, f"{f.relative_to(ROOT)} has {n} lines; split it by concept"
