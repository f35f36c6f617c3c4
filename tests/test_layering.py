"""The import layers of the project, checked on the source: the core imports no task, tasks import
no other task, ``augment`` stands alone (DESIGN.md, "Layout").

- core: ``cer``'s trainer, config, checkpoints, backbone, readers, metrics, taxonomy, plots, faces
  and video (every module of ``cer`` but those below);
- built-in data: ``cer.synth`` (the renderer and its data sets), on the core only;
- tasks: ``cer.compound`` (CE), ``cer.pretrain`` (MAE), ``mtl``, on the core and the built-in data;
- applications: ``cer.predict`` (CE on videos), ``cer.cli`` and the ``cer.train`` entry point.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("cer.compound", "cer.pretrain", "mtl")
APPS = ("cer.predict", "cer.cli", "cer.train")
BUILTIN_DATA = ("cer.synth",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions (relative imports resolved)."""
    found = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
    return found


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def layer(name: str) -> str:
    if within(name, TASKS):
        return next(p for p in TASKS if within(name, (p,)))
    if within(name, APPS):
        return "app"
    if within(name, BUILTIN_DATA):
        return "builtin-data"
    return "core"


def project_modules() -> dict[str, set[str]]:
    files = [*ROOT.glob("cer/**/*.py"), *ROOT.glob("mtl/**/*.py"), *ROOT.glob("augment/**/*.py")]
    return {module_name(f): {m for m in imports_of(f) if m.split(".")[0] in ("cer", "mtl", "augment")}
            for f in files}


def test_the_scan_sees_the_imports_it_checks():
    modules = project_modules()
    # Known edges, so that a broken scan (no files, no imports found) cannot pass the checks below.
    assert "cer.trainer" in modules["cer.launch"]
    assert "cer.compound.curriculum" in modules["cer.compound.task"]
    assert any(m.startswith("cer.") for m in modules["mtl.task"])
    assert layer("cer.trainer") == "core" and layer("mtl.task") == "mtl" and layer("cer.synth.face") == "builtin-data"


@pytest.mark.parametrize("kind", ["core", "builtin-data"])
def test_core_and_builtin_data_import_no_task_or_app(kind):
    bad = {m: sorted(i for i in imports if layer(i) not in ("core", "builtin-data") or
                     (kind == "core" and layer(i) == "builtin-data"))
           for m, imports in project_modules().items() if layer(m) == kind and not m.startswith("augment")}
    assert not {m: i for m, i in bad.items() if i}, "the core must not depend on tasks, apps or the renderer"


def test_a_task_imports_no_other_task_or_app():
    bad = {}
    for m, imports in project_modules().items():
        if layer(m) in TASKS:
            wrong = sorted(i for i in imports if layer(i) == "app" or (layer(i) in TASKS and layer(i) != layer(m)))
            if wrong:
                bad[m] = wrong
    assert not bad


def test_augment_stands_alone():
    bad = {m: sorted(i) for m, i in project_modules().items()
           if m.startswith("augment") and any(not x.startswith("augment") for x in i)}
    assert not bad
