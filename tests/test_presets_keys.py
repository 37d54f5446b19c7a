"""Moving the presets into one table changes no trial: every shipped sweep and every
method x dataset x architecture pairing expands to the keys recorded before the move
(tests/data/expanded_keys.json; regenerate with ``python tests/test_presets_keys.py``
only when a trial is meant to change)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec, parse_spec
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.models import ARCHITECTURES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "expanded_keys.json"


def keys(spec) -> list[str] | str:
    """The sweep's trial keys in expansion order, or the error it is refused with."""
    try:
        return [t["key"] for t in expand_sweep(spec)]
    except SpecError as exc:
        return f"SpecError: {exc}"


def shipped() -> dict[str, list[str] | str]:
    return {path.name: keys(load_spec(path)) for path in sorted((ROOT / "sweeps").glob("*.yaml"))}


def pairings() -> dict[str, list[str] | str]:
    """One trial per method x dataset x architecture (every registered name; refused
    pairings record their error, so the refusals stay the same too)."""
    out: dict[str, list[str] | str] = {}
    for dataset in DATASETS.names():
        for method in METHODS.names():
            for arch in ARCHITECTURES.names():
                spec = parse_spec({"name": "all", "datasets": [dataset], "seeds": [0],
                                   "methods": [{"name": method}], "architectures": [arch]},
                                  "synthetic")
                out[f"{method}/{dataset}/{arch}"] = keys(spec)
            default = parse_spec({"name": "all", "datasets": [dataset], "seeds": [0],
                                  "methods": [{"name": method}]}, "synthetic")
            out[f"{method}/{dataset}/(default)"] = keys(default)
    return out


def current() -> dict[str, dict[str, list[str] | str]]:
    return {"sweeps": shipped(), "pairings": pairings()}


def test_every_expansion_keeps_its_keys():
    expected = json.loads(REFERENCE.read_text())
    got = current()
    for part in ("sweeps", "pairings"):
        assert sorted(got[part]) == sorted(expected[part]), part
        changed = [name for name in expected[part] if got[part][name] != expected[part][name]]
        assert not changed, f"{part}: {changed[:10]}"


def test_the_reference_covers_every_paper_dataset_with_trials():
    expected = json.loads(REFERENCE.read_text())["pairings"]
    expanded = {name.split("/")[1] for name, value in expected.items() if isinstance(value, list)}
    assert expanded == set(DATASETS.names())
    assert sum(isinstance(v, list) for v in expected.values()) > 100


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
    sys.exit(0)
