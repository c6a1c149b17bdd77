"""The library's three floors (issue 15): the core and the model families never reach up
into the book's floor, no module grows past a screenful of screens, and the language
model's settings are one typed object read as attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import collapse

LIBRARY = Path(collapse.__file__).parent
CORE = ["loop", "mixing", "checkpoint", "sweep", "hashing", "files", "validate", "theory",
        "metrics", "linalg", "testing"]
FAMILIES = ["gaussian", "discrete", "noisy", "gmm", "gmm_em", "gmm_steps", "kmeans", "vae",
            "vae_stream", "vae_train", "markov", "ngram", "data", "mnist"] + [
                f"lm.{p.stem}" for p in (LIBRARY / "lm").glob("*.py")]
FLOOR_OF = {**{name: "core" for name in CORE}, **{name: "families" for name in FAMILIES}}


def source(module: str) -> Path:
    path = LIBRARY / (module.replace(".", "/") + ".py")
    return path if path.exists() else LIBRARY / module.replace(".", "/") / "__init__.py"


def imported(module: str) -> set[str]:
    """Every collapse module that ``module`` imports, at the top or inside a function."""
    package = ["collapse", *module.split(".")[:-1]]
    found = set()
    for node in ast.walk(ast.parse(source(module).read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("collapse")}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            if node.module is None or name == "collapse":
                found |= {f"{name}.{alias.name}" for alias in node.names}
            else:
                found.add(name)
    return {name for name in found if name.startswith("collapse")}


def test_every_library_module_has_a_floor():
    modules = {".".join(p.relative_to(LIBRARY).with_suffix("").parts)
               for p in LIBRARY.rglob("*.py")}
    modules = {m.removesuffix(".__init__") for m in modules}
    unplaced = {m for m in modules if m not in FLOOR_OF and not m.startswith("book")
                and m not in ("__init__", "__main__", "lm")}
    assert not unplaced, f"modules on no floor: {sorted(unplaced)} (add them to CORE/FAMILIES)"


@pytest.mark.parametrize("module", CORE + FAMILIES)
def test_core_and_families_never_import_the_book(module):
    upward = {name for name in imported(module)
              if name == "collapse.book" or name.startswith("collapse.book.")}
    assert not upward, f"{module} imports {sorted(upward)}: the book's floor is above it"


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_family(module):
    families = {f"collapse.{name}" for name in FAMILIES} | {"collapse.lm"}
    assert not imported(module) & families, f"{module} reaches up into a family"


@pytest.mark.parametrize("module", CORE + FAMILIES)
def test_core_and_families_read_no_profile_key(module):
    """Settings reach a family as typed arguments, never as a profile dict."""
    tree = ast.parse(source(module).read_text())
    reads = [ast.unparse(node) for node in ast.walk(tree)
             if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
             and node.value.id in ("config", "profile", "settings", "PROFILES")
             and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)]
    assert not reads, f"{module} reads settings as a dict: {reads}"


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(LIBRARY)))
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    limit = 250 if path == LIBRARY / "loop.py" else 400
    assert lines <= limit, f"{path.relative_to(LIBRARY)} has {lines} lines (at most {limit})"


def test_language_model_settings_are_read_as_attributes_only():
    """The language model's settings are built once (``Settings``) and every module that
    uses them reads attributes: no ``config["lr"]`` anywhere in the library."""
    for path in [*LIBRARY.joinpath("lm").glob("*.py"),
                 LIBRARY / "book" / "chapters" / "language_models.py",
                 LIBRARY / "book" / "lm_estimate.py",
                 LIBRARY / "book" / "chapters" / "reproduction.py",
                 LIBRARY / "book" / "families.py"]:
        tree = ast.parse(path.read_text())
        reads = [ast.unparse(node) for node in ast.walk(tree)
                 if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                 and isinstance(node.slice.value, str)
                 and isinstance(node.value, ast.Name)
                 and node.value.id in ("config", "settings", "lm_settings", "lm_config")]
        assert not reads, f"{path.name} reads the settings as a dict: {reads}"


def test_the_public_contract_test_passes_on_the_simplest_family():
    import numpy as np

    from collapse import gaussian
    from collapse.testing import check_family

    check_family(gaussian.Gaussian,
                 lambda rng: gaussian.initial_data(3, 20, rng), size=10)
    with pytest.raises(AssertionError, match="must subclass collapse.loop.Family"):
        check_family(lambda: object(), lambda rng: np.zeros((2, 5)), size=5)
