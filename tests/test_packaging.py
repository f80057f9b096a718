"""The layout the design card asks for: top-level folders, the wheel's package list, one-way
imports (counting imports inside functions and under TYPE_CHECKING)."""

import ast
import configparser
from pathlib import Path

from posenet.config import config_root, packaged_configs
from tests.conftest import REPO_ROOT


def test_top_level_has_the_design_cards_folders():
    for name in ("tracker", "posenet", "configs", "tools", "tests", "setup.cfg", "README.md"):
        assert (REPO_ROOT / name).exists(), name
    for folder in ("coco", "mpii", "posetrack", "tracking"):
        assert any((REPO_ROOT / "configs" / folder).glob("*.yaml")), folder
    assert not (REPO_ROOT / "posenet" / "configs").exists()  # one home, not two
    assert not (REPO_ROOT / "tracker" / "configs").exists()
    assert config_root() == REPO_ROOT / "configs"
    assert "configs/tracking/default.yaml" in packaged_configs()


def test_setup_cfg_lists_every_package_and_ships_the_configs():
    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {
        ".".join(p.parent.relative_to(REPO_ROOT).parts)
        for top in ("posenet", "tracker")
        for p in (REPO_ROOT / top).rglob("__init__.py")
    }
    assert listed == found | {"posenet.configs"}
    assert cfg["options"]["package_dir"].split() == ["posenet.configs", "=", "configs"]


def _imports(path: Path, module: str, names: set[str]) -> set[str]:
    """Project modules that `module` imports anywhere in its file (functions included)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: None if is_package else -1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in targets:
            while name and name not in names:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                found.add(name)
    return found


def test_no_import_circle():
    files = {}
    for top in ("posenet", "tracker"):
        for p in (REPO_ROOT / top).rglob("*.py"):
            parts = p.relative_to(REPO_ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    edges = {m: _imports(p, m, set(files)) for m, p in files.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(edges[m])
        return False

    circles = sorted(f"{a} -> {b}" for a in edges for b in edges[a] if reaches(b, a))
    assert not circles, circles
    assert not any(
        m.startswith("tracker") for p in edges if p.startswith("posenet") for m in edges[p]
    )
