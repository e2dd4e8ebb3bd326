"""avemotion_core must run on machines without ROS: no module of it may import a ROS package; and
its subpackages import one way (no cycles, not even through a deferred import)."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import avemotion_core

ROS_ROOTS = {"rclpy", "rosidl_runtime_py", "rosidl_parser", "sensor_msgs", "std_msgs", "vision_msgs",
             "audio_common_msgs", "diagnostic_msgs", "cv_bridge", "launch", "launch_ros", "rosbag2_py",
             "builtin_interfaces", "avemotion_ros"}
CORE = Path(avemotion_core.__file__).parent


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(CORE)], prefix="avemotion_core."))


def test_no_ros_import_statements() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] in ROS_ROOTS]
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_ros_module() -> None:
    """Imports each module in a fresh interpreter whose ROS packages are made unimportable."""
    modules = _core_modules()
    assert "avemotion_core.learner" in modules and len(modules) > 8
    code = (
        "import sys, importlib\n"
        f"blocked = {sorted(ROS_ROOTS)!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in blocked:\n"
        "            raise ImportError('ROS import from avemotion_core: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}:\n"
        "    if m.endswith('__main__'):\n"
        "        continue\n"
        "    importlib.import_module(m)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in blocked]\n"
        "assert not loaded, loaded\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> core modules it imports anywhere in its body (function-level imports included:
    deferring an import hides a cycle from the interpreter, not from the reader)."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{node.module}.{alias.name}"
                    edges.add(sub if sub in modules else node.module)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def test_core_import_graph_has_no_cycles() -> None:
    graph = _import_graph()
    assert "avemotion_core.faces.cropper" in graph and len(graph) > 30
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, cycles
