"""The library stays light: `import hwsim` and `hwsim estimate` on an ONNX file import no
heavy package (torch, hls4ml, aihwkit, onnxruntime, optuna, matplotlib, pandas, scipy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "hls4ml", "aihwkit", "onnxruntime", "optuna", "matplotlib", "pandas", "scipy", "sklearn")


def _imported_after(code: str) -> set[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return {m for m in (r.stdout.strip().splitlines() or [""])[-1].split(",") if m}


def test_import_hwsim_is_light():
    assert _imported_after("import hwsim") == set()


@pytest.mark.parametrize("backend", ["bops", "fpga", "aimc", "cpu", "gpu"])
def test_estimate_on_onnx_file_is_light(backend):
    model = ROOT / "models" / "onnx" / "jet-mlp.onnx"
    if not model.exists():
        pytest.skip("zoo not exported")
    code = (
        "import io, contextlib\n"
        "from hwsim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['estimate', {str(model)!r}, '--backend', {backend!r}, '--format', 'json']) == 0\n"
    )
    assert _imported_after(code) == set()
