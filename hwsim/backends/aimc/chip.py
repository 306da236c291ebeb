"""Chip descriptions of the aimc backend: plain JSON files, one value per parameter, each with
its source (``calibration/profiles/aimc/<id>.json``, schema ``hwsim-aimc-chip/1``).

A chip is selected by ``--set chip=NAME`` (a bundled id such as ``kosters2022`` or ``hermes``)
or ``--set chip=path/to/chip.json``; single values are overridden with ``--set tiles=8`` etc.

File format::

    {"schema": "hwsim-aimc-chip/1", "id": "kosters2022", "name": "...", "reference": "...",
     "params": {"tile_rows": {"value": 512, "unit": "rows", "source": "paper, section"}, ...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwsim._paths import profiles_dir
from hwsim.errors import ConfigError

SCHEMA = "hwsim-aimc-chip/1"
DEFAULT_CHIP = "kosters2022"

#: every chip file must give these (name -> python type of the value)
CHIP_KEYS: dict[str, type] = {
    "tile_rows": int,
    "tile_cols": int,
    "tiles": int,
    "dac_bits": int,
    "adc_bits": int,
    "mvm_latency_s": float,
    "stage_time_s": float,
    "p_crossbar_w": float,
    "p_ldpu_w": float,
    "p_dpu_w": float,
    "p_comm_w": float,
    "dpu_lanes": int,
}


def chip_dir() -> Path:
    """Folder of the bundled chip descriptions."""
    return profiles_dir() / "aimc"


def bundled_chips() -> list[str]:
    """Ids of the bundled chip descriptions."""
    return sorted(p.stem for p in chip_dir().glob("*.json"))


def chip_path(chip: str) -> Path:
    """Resolve a chip id or a path to its JSON file (ConfigError naming the key if absent)."""
    p = Path(chip)
    if p.suffix.lower() == ".json" or "/" in chip or p.exists():
        if not p.is_file():
            raise ConfigError(f"option 'chip': chip description {chip} not found")
        return p
    cand = chip_dir() / f"{chip}.json"
    if not cand.is_file():
        raise ConfigError(
            f"option 'chip': unknown chip {chip!r} (bundled: {', '.join(bundled_chips()) or 'none'}; or give a path to a JSON file)"
        )
    return cand


def load_chip(chip: str = DEFAULT_CHIP) -> dict[str, Any]:
    """Read and validate a chip description; returns the parsed JSON with ``path`` added."""
    path = chip_path(chip)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid chip description JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f'{path}: not a chip description (expected "schema": "{SCHEMA}")')
    params = data.get("params")
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: 'params' must be an object")
    for key, typ in CHIP_KEYS.items():
        entry = params.get(key)
        if not isinstance(entry, dict) or "value" not in entry or not str(entry.get("source", "")).strip():
            raise ConfigError(f"{path}: parameter {key!r} missing or without a value and source")
        v = entry["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{path}: parameter {key!r} must be a non-negative number, got {v!r}")
        if typ is int and (not float(v).is_integer() or v < 1):
            raise ConfigError(f"{path}: parameter {key!r} must be a positive integer, got {v!r}")
    for key in params:
        if key not in CHIP_KEYS:
            raise ConfigError(f"{path}: unknown chip parameter {key!r} (known: {', '.join(CHIP_KEYS)})")
    data["path"] = str(path)
    return data
