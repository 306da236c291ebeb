"""Regression guard of the shipped fpga profile: recompute its error on its own held-out
split (reports the fit never saw) with today's backend and fail when it grew beyond the
value recorded in the profile (plus a small tolerance). Also checks the accuracy targets of
the calibration task on that split, and that the profile applies to what it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.calibration.engine import evaluate_all, get_adapter, stats_by

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "calibration" / "profiles" / "fpga" / "xcu250-figd2104-2L-e.json"
MANIFEST = REPO / "calibration" / "manifests" / "wa-hls4ml.yml"
TOL_PCT = 0.5  # percentage points


@pytest.fixture(scope="module")
def held_out_stats() -> tuple[dict, dict]:
    if not PROFILE.is_file():
        pytest.fail(f"{PROFILE} is missing: run `python -m hwsim.calibration.report`")
    prof = json.loads(PROFILE.read_text())
    adapter = get_adapter("fpga")
    held = set(prof["split"]["held_out"])
    samples = [s for s in adapter.load([str(MANIFEST)]) if s.id in held]
    assert len(samples) == len(held), "held-out ids no longer match the manifest"
    ev = evaluate_all(adapter, samples, prof)
    assert all(e.evaluation is not None for e in ev), [e.error for e in ev if e.evaluation is None][:3]
    return prof, stats_by(ev, adapter.metrics)["all"]


def test_profile_describes_itself() -> None:
    prof = json.loads(PROFILE.read_text())
    assert prof["backend"] == "fpga" and prof["applies_to"]["part"] == "xcu250-figd2104-2L-e"
    assert prof["applies_to"]["strategy"] == ["resource"] and prof["applies_to"]["io_type"] == ["io_parallel"]
    assert prof["evaluated_on"] == "held_out"
    assert set(prof["split"]["fit"]).isdisjoint(prof["split"]["held_out"])
    assert sorted(prof["reports"]) == sorted(prof["split"]["fit"])
    for name, c in prof["constants"].items():
        assert c["value"] >= 0 and c["source"].startswith("fit:"), name


def test_held_out_error_did_not_grow(held_out_stats: tuple[dict, dict]) -> None:
    prof, now = held_out_stats
    for metric, rec in prof["error_after"].items():
        cur = now[metric]
        assert cur["n"] == rec["n"], metric
        for key in ("median_ape", "mape"):
            if rec.get(key) is not None:
                assert cur[key] <= rec[key] + TOL_PCT, f"{metric} {key}: {cur[key]:.2f} % now vs {rec[key]:.2f} % recorded"
        if rec.get("exact_pct") is not None:
            assert cur["exact_pct"] >= rec["exact_pct"] - TOL_PCT, (
                f"{metric} exact: {cur['exact_pct']} % now vs {rec['exact_pct']} %"
            )


def test_held_out_targets(held_out_stats: tuple[dict, dict]) -> None:
    """The task's targets on held-out wa-hls4ml rows (peer rule4ml: LUT 8 % / FF 10 %)."""
    _, s = held_out_stats
    assert s["latency_cycles"]["exact_pct"] >= 99.0
    assert s["DSP"]["exact_pct"] >= 99.0
    assert s["LUT"]["median_ape"] <= 8.0
    assert s["FF"]["median_ape"] <= 10.0
