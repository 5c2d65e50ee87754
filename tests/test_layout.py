"""The house: imports run down the floors and never in a circle; the package installs what it has;
the public surface is what the README promises and importing it stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "viewsynth"

# The floors, ground first (README "Layout"). A wing may import its own modules and any wing on a
# lower floor, never one on its own floor or above.
FLOORS = [
    {"errors", "interrupts", "threads"},
    {"boxes"},  # ISO BMFF headers: MP4 out, HEIF and MP4 in
    {"decode", "heif"},  # every video read (frames hands its readers on); HEIC
    {"config", "frames", "geometry", "parallel", "warp"},
    {"classical", "export"},  # export: frames and MP4 boxes out, and the box reader capture uses
    {"model", "synth", "capture", "sweep"},
    {"interpolators"},
    {"walkthrough", "evaluation", "viewer"},
    {"training"},
    {"runners"},
    {"pipelines"},
]
FLOOR = {wing: level for level, wings in enumerate(FLOORS) for wing in wings}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for the library and the jobs (installed as viewsynth.pipelines)."""
    found = {}
    for base, prefix in ((LIB, "viewsynth"), (ROOT / "pipelines", "viewsynth.pipelines")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import of ``name`` loads (its deepest existing prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module: str) -> set[str]:
    """Every project module ``module`` imports, at top level or inside a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` loads pkg.sub when sub is a module, else just pkg.
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                out.add(target)
    return out


GRAPH = {module: _imports(module) for module in MODULES}


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package's own __init__


def test_every_wing_has_a_floor():
    wings = {_wing(m) for m in MODULES} - {None}
    assert wings <= set(FLOOR), f"wings without a floor in FLOORS: {sorted(wings - set(FLOOR))}"


def test_imports_run_down_the_floors():
    wrong = []
    for module, targets in GRAPH.items():
        wing = _wing(module)
        if wing is None:
            continue
        for target in targets:
            other = _wing(target)
            if other is None:
                wrong.append(f"{module} -> viewsynth (the public surface is for users)")
            elif other != wing and FLOOR[other] >= FLOOR[wing]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports that do not run down:\n" + "\n".join(sorted(wrong))


def test_no_import_circles():
    state: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_no_library_module_is_too_long_to_hold_in_mind():
    long = {
        str(path.relative_to(ROOT)): n
        for module, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 420
    }
    assert not long, f"modules over 420 lines: {long}"


def test_pyproject_lists_every_package_and_maps_the_jobs():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    folders = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    folders.add("viewsynth.weights")  # data only: the shipped model
    static = (
        LIB / "viewer" / "static"
    )  # data only: the viewer's page, under names Python could import
    for folder in [static, *static.rglob("*")]:
        parts = folder.relative_to(LIB).parts
        if folder.is_dir() and all(part.isidentifier() for part in parts):
            folders.add("viewsynth." + ".".join(parts))
    assert (LIB / "weights" / "default.msgpack").is_file()
    assert "*.msgpack" in config["setuptools"]["package-data"]["viewsynth.weights"]
    assert listed == folders, (
        f"missing {sorted(folders - listed)}, stale {sorted(listed - folders)}"
    )
    assert config["setuptools"]["package-dir"] == {"viewsynth.pipelines": "pipelines"}
    assert not any(name == "pipelines" or name.startswith("pipelines.") for name in listed)


def _third_party_imports() -> dict[str, str]:
    """Top-level name of every import outside the standard library and the project -> a module
    that imports it (absolute imports only: relative ones are the project's)."""
    found = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "viewsynth":
                    found.setdefault(top, module)
    return found


def test_every_file_of_the_viewers_page_is_in_the_package():
    """The viewer's page, styles and vendored scripts are package data: a file added there that no
    glob of pyproject's package-data takes is missing from every installed copy (a wheel)."""
    import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    globs = data["setuptools"]["package-data"]
    static = LIB / "viewer" / "static"
    missing = []
    for path in sorted(p for p in static.rglob("*") if p.is_file()):
        parts = path.relative_to(LIB).parts
        # the deepest listed package holding it, and the file's path below that package
        owners = [
            n for n in range(len(parts) - 1, 0, -1) if "viewsynth." + ".".join(parts[:n]) in globs
        ]
        package = "viewsynth." + ".".join(parts[: owners[0]]) if owners else ""
        below = "/".join(parts[owners[0] :]) if owners else ""
        if not any(
            fnmatch.fnmatchcase(below, g) and below.count("/") == g.count("/")
            for g in globs.get(package, [])
        ):
            missing.append(str(path.relative_to(LIB)))
    assert not missing, f"not in pyproject's package-data: {missing}"


def test_every_library_the_code_imports_is_declared():
    """A module imported only because another dependency happens to bring it (pynmea2 came with
    mapillary_tools) breaks when that one drops it or changes; each is declared in pyproject."""
    import importlib.metadata
    import re

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(pyproject["dependencies"])
    for extra in pyproject["optional-dependencies"].values():
        wanted += extra

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {norm(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]) for req in wanted}
    dists = importlib.metadata.packages_distributions()
    missing = {
        top: module
        for top, module in _third_party_imports().items()
        if not {norm(d) for d in dists.get(top, [top])} & declared
    }
    assert not missing, f"imported, not declared in pyproject.toml: {missing}"


def test_the_build_asks_for_a_setuptools_that_reads_the_licence():
    """``license = "MIT"`` (an SPDX expression, PEP 639) is read from setuptools 77 on; 68-76 stop
    with "invalid pyproject.toml config: `project.license`". An isolated build fetches the newest,
    but an offline one (``--no-build-isolation``: a packager, a machine without an index) uses the
    floor the project declares, which must be one that builds it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(pyproject["project"]["license"], str)
    (floor,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    assert floor.startswith("setuptools>=")
    major = int(floor.removeprefix("setuptools>=").split(".")[0])
    assert major >= 77, floor


def test_the_public_surface_resolves_and_stays_light():
    code = (
        "import sys, viewsynth\n"
        "assert 'jax' not in sys.modules, 'import viewsynth pulled in JAX'\n"
        "import viewsynth.frames\n"
        "assert 'pillow_heif' not in sys.modules, 'the HEIF opener is registered on first read'\n"
        "from viewsynth.interpolators import Flow, make_interpolator\n"
        "from viewsynth.walkthrough import run_capture\n"
        "assert viewsynth.Flow is Flow and viewsynth.make_interpolator is make_interpolator\n"
        "assert viewsynth.run_capture is run_capture\n"
        "assert issubclass(viewsynth.FrameError, viewsynth.ViewsynthError)\n"
        "assert set(viewsynth.__all__) <= set(dir(viewsynth))\n"
        "assert set(viewsynth.__all__) == set(viewsynth._LAZY) | {'ConfigError', 'FrameError', 'ViewsynthError', 'WeightsError'}\n"
        "for name in viewsynth.__all__: getattr(viewsynth, name)\n"
        "assert isinstance(Flow(), viewsynth.Interpolator) and not isinstance(3, viewsynth.Interpolator)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    import viewsynth

    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        viewsynth.nothing_here  # noqa: B018
