"""Where the project's bundled data lives.

hwsim is installed editable from its repository (README); the zoo (``models/``), the shipped
reports and profiles (``calibration/``) sit at the repository root beside the package.
``HWSIM_HOME`` overrides the root (for an installed copy with the data elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    env = os.environ.get("HWSIM_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    return repo_root() / "models"


def calibration_dir() -> Path:
    return repo_root() / "calibration"


def profiles_dir() -> Path:
    return calibration_dir() / "profiles"


def reports_dir() -> Path:
    return repo_root() / "reports"
