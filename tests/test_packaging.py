"""The two install routes (pip with pyproject.toml, conda with environment.yml) agree."""

import tomllib

import yaml
from conftest import ROOT


def test_environment_yml_has_the_same_pins_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert {p for p in pip_section if "==" in p} == pins
    assert all("==" in p for p in pins), "every dependency is pinned exactly"
