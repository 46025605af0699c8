"""The package's layout holds: imports point one way, with no cycle and no private names.

core <- writing <- framework adapters; core <- server; core <- report. Every
import of the package's own modules counts, also those inside functions
(lazy imports), because a lazy cycle is still a cycle a newcomer must untangle.
"""

import ast
import importlib
import pathlib

import pytest

import tensorboard_plugin_deadrelu

PACKAGE = "tensorboard_plugin_deadrelu"
ROOT = pathlib.Path(tensorboard_plugin_deadrelu.__file__).parent

# What each part of the package may import of the package (besides itself).
ALLOWED = {
    "core": set(),
    "writing": {"core"},
    "server": {"core"},
    "report": {"core"},
    "adapters": {"core", "writing", "adapters"},
    "aliases": {"core", "writing"},
}
ADAPTERS = {"keras", "torch", "lightning", "transformers", "jax"}
# The 0.1 public module names, kept as aliases of their new homes.
ALIASES = {"summary", "metadata", "event_writer", "distributed"}


def module_name(path):
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules():
    return {module_name(p): p for p in ROOT.rglob("*.py") if "frontend" not in p.parts}


def is_package(name, modules):
    return (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()


def imports_of(name, path, modules):
    """The package's modules ``name`` imports, each with the names it takes from it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE):
                    found.append((alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".") if is_package(name, modules) else name.split(".")[:-1]
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            if not base.startswith(PACKAGE):
                continue
            for alias in node.names:
                target = base + "." + alias.name
                if target in modules:
                    found.append((target, None))
                else:
                    found.append((base, alias.name))
    return found


def part_of(name):
    parts = name.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in ADAPTERS:
        return "adapters"
    if parts[1] in ALIASES and len(parts) == 2:
        return "aliases"
    return parts[1]


def graph():
    modules = package_modules()
    edges = {}
    private = []
    for name, path in modules.items():
        edges[name] = set()
        for target, imported_name in imports_of(name, path, modules):
            edges[name].add(target)
            if imported_name and imported_name.startswith("_") and target != name:
                private.append("%s imports %s from %s" % (name, imported_name, target))
    return modules, edges, private


def test_every_module_is_seen():
    modules = package_modules()
    assert "tensorboard_plugin_deadrelu.core.sums" in modules
    assert "tensorboard_plugin_deadrelu.server.plugin" in modules
    assert "tensorboard_plugin_deadrelu.keras.monitor" in modules
    assert len(modules) > 30


def find_cycle(edges):
    """One import cycle as a list of modules, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            # Importing a package runs its __init__; a submodule importing its own
            # package's __init__ is how Python works, not a cycle of ours.
            if node.startswith(target + "."):
                continue
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    _, edges, _ = graph()
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_private_name_is_imported_from_another_module():
    _, _, private = graph()
    assert private == []


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_one_way(part):
    _, edges, _ = graph()
    wrong = []
    for name, targets in edges.items():
        if part_of(name) != part:
            continue
        for target in targets:
            target_part = part_of(target)
            if target_part in (part, "package") or target_part in ALLOWED[part]:
                continue
            wrong.append("%s imports %s" % (name, target))
    assert wrong == []


@pytest.mark.parametrize(
    "statement",
    [
        "from tensorboard_plugin_deadrelu import summary",
        "from tensorboard_plugin_deadrelu import metadata",
        "from tensorboard_plugin_deadrelu import distributed",
        "from tensorboard_plugin_deadrelu.event_writer import RecordWriter",
        "from tensorboard_plugin_deadrelu.summary import Accumulator, activations, activations_pb, gradients_pb, reduce_activations_np, stats_pb",
        "from tensorboard_plugin_deadrelu.keras import DeadReluMonitor, find_relu_layers, is_relu_family, RELU_FAMILY",
        "from tensorboard_plugin_deadrelu.torch import DeadReluMonitor, is_relu_family, RELU_FAMILY",
        "from tensorboard_plugin_deadrelu.report import cli; cli.main",
        "from tensorboard_plugin_deadrelu.server.loader import DeadReluLoader",
    ],
)
def test_public_imports_still_work(statement):
    exec(statement, {})


def test_public_aliases_are_the_modules_themselves():
    from tensorboard_plugin_deadrelu import event_writer, metadata, summary
    from tensorboard_plugin_deadrelu.core import metadata as core_metadata
    from tensorboard_plugin_deadrelu.writing import event_writer as writing_event_writer
    from tensorboard_plugin_deadrelu.writing import summary as writing_summary

    assert summary is writing_summary
    assert metadata is core_metadata
    assert event_writer is writing_event_writer
    assert importlib.import_module("tensorboard_plugin_deadrelu.summary") is writing_summary
