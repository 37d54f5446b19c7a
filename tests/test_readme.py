"""The README's example sweep file is a valid sweep: it parses and expands."""
from __future__ import annotations

import re
from pathlib import Path

from orchestrator.expand import expand_sweep
from orchestrator.spec import parse_spec

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_sweep_file_expands():
    section = README.read_text().split("## The sweep file", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    import yaml

    spec = parse_spec(yaml.safe_load(example), "README.md")
    trials = expand_sweep(spec)
    assert spec.name == "my_sweep"
    assert {t["method"]["name"] for t in trials} == {"linear", "wc_al", "stl"}
    assert len({t["key"] for t in trials}) == len(trials)
