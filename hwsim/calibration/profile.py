"""Calibration profiles: plain JSON with provenance, written atomically.

Format (``schema`` = ``hwsim-profile/1``)::

    {
      "schema": "hwsim-profile/1",
      "id": "fpga-xcu250-vitis2023.2-wa-hls4ml",      # names the profile in estimate output
      "backend": "fpga",
      "applies_to": {"part": "xcu250-figd2104-2L-e", "tool": "Vitis HLS 2023.2"},
      "created": "2026-11-29T21:00:00Z",
      "hwsim_version": "0.1.0",
      "reports": ["<report id>", ...],                  # what the fit used
      "split": {"fit": [...ids...], "held_out": [...ids...]} (optional),
      "constants": {"<param name>": {"value": 1.0, "source": "fit: ..."}, ...},
      "error_before": {"<metric>": {"mape": .., "median_ape": .., "n": ..}, ...},
      "error_after": {...}
    }

Profiles written by ``hwsim calibrate`` (:func:`hwsim.calibration.engine.calibrate`) also
carry: ``applies_to.kind`` (which reports were fitted: hls_estimate | post_synthesis) and, for
fpga, ``applies_to.strategy`` / ``applies_to.io_type`` (the design regime of the fit data);
``inputs`` (the manifests); ``evaluated_on`` (``held_out`` or ``fit``: the split that
``error_before``/``error_after`` describe); ``fit_error_before``/``fit_error_after`` (the same
statistics on the fit split); ``fit_diagnostics`` (per metric: constants before/after with
standard errors, constants the data did not exercise); ``skipped`` (reports the backend could
not cost). Each statistic is ``{n, n_relative, mape, median_ape, max_ape, bias, exact_pct}`` in
percent (:func:`hwsim.calibration.fit.error_stats`).

``constants`` keys are parameter names of the backend (``hwsim backends --format json``
lists them); ``resolve_params(..., profile=...)`` applies them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwsim.errors import ReportError

SCHEMA = "hwsim-profile/1"
REQUIRED = ("schema", "id", "backend", "constants")


def validate_profile(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ReportError(f"{where}: a profile must be a JSON object")
    for key in REQUIRED:
        if key not in data:
            raise ReportError(f"{where}: profile lacks the key {key!r}")
    if data["schema"] != SCHEMA:
        raise ReportError(f"{where}: unknown profile schema {data['schema']!r} (expected {SCHEMA})")
    if not isinstance(data["constants"], dict):
        raise ReportError(f"{where}: 'constants' must be an object")
    for name, c in data["constants"].items():
        value = c.get("value") if isinstance(c, Mapping) else c
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ReportError(f"{where}: constant {name!r} has a non-numeric value {value!r}")
    return data


def load_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a profile; raises ReportError naming the file on any problem."""
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: profile not found")
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{p}: not a valid JSON profile ({exc})") from None
    data = validate_profile(data, str(p))
    data.setdefault("path", str(p))
    return data


def save_profile(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Validate and write atomically (temp file in the same folder, then rename)."""
    p = Path(path)
    validate_profile(dict(data), str(p))
    from hwsim._io import atomic_write_json

    atomic_write_json(p, data)
    return p
