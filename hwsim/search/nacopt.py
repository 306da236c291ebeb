"""Read nac-opt's logged global searches and decode each trial into a sample of hwsim's
``braggnn_nacopt`` / ``deepsets_nacopt`` spaces.

Log format (one line per trial, see /work/shared/data/nac-opt-logs/README.md)::

    Trial N, Mean Distance|Accuracy: v, BOPs: b, Inference time: t, Validation Loss: l,
    Param Count: n, Hyperparams: {python dict literal}

nac-opt stored many choices as indices into tuples that changed between versions, so each run
is decoded with every candidate tuple combination below and the combination whose parameter
count matches the logged ``Param Count`` on most trials is kept. A trial *decodes* when its
rebuilt architecture has exactly the logged parameter count.
"""

from __future__ import annotations

import ast
import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError, ReportError
from hwsim.search.objective import CandidateError
from hwsim.search.spaces import SearchSpace

log = logging.getLogger(__name__)

_LINE = re.compile(
    r"^Trial (\d+), (Mean Distance|Accuracy): ([^,]+), BOPs: ([^,]+), Inference time: ([^,]+), "
    r"Validation Loss: ([^,]+), Param Count: (\d+), Hyperparams: (\{.*\})\s*$"
)


@dataclass
class LoggedTrial:
    run: str
    number: int
    task: str  # braggnn | deepsets
    metric_name: str
    metric: float
    bops_logged: float
    gpu_time_s: float
    val_loss: float
    param_count: int
    hyperparams: dict[str, Any]
    sample: dict[str, Any] | None = None
    decoded_params: int | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def decoded(self) -> bool:
        return self.sample is not None and self.decoded_params == self.param_count


def read_log(path: str | Path, run_prefix: str | None = None) -> list[LoggedTrial]:
    """Parse a nac-opt log; a new run starts whenever the trial number drops to 0."""
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: no such nac-opt log")
    trials: list[LoggedTrial] = []
    run_idx = -1
    prefix = run_prefix or p.stem
    for lineno, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line.strip())
        if not m:
            raise ReportError(f"{p}:{lineno}: not a nac-opt trial line")
        number = int(m.group(1))
        if number == 0:
            run_idx += 1
        try:
            hp = ast.literal_eval(m.group(8))
        except (ValueError, SyntaxError) as exc:
            raise ReportError(f"{p}:{lineno}: hyperparameters are not a Python literal: {exc}") from None
        metric_name = "mean_distance_px" if m.group(2) == "Mean Distance" else "accuracy"
        task = "braggnn" if metric_name == "mean_distance_px" else "deepsets"
        trials.append(
            LoggedTrial(
                run=f"{prefix}#{run_idx}:{task}",
                number=number,
                task=task,
                metric_name=metric_name,
                metric=float(m.group(3)),
                bops_logged=float(m.group(4)),
                gpu_time_s=float(m.group(5)),
                val_loss=float(m.group(6)),
                param_count=int(m.group(7)),
                hyperparams={str(k): v for k, v in hp.items()},
            )
        )
    return trials


# ------------------------------------------------------------------------------------------
# candidate tuples (nac-opt models/blocks.py and global_search.py history; README of the logs)
# ------------------------------------------------------------------------------------------

BRAGG_PROJ = ((8, 16, 32, 64), (4, 8, 16, 32), (16, 32, 64, 128))
BRAGG_CONV_CH = ((2, 4, 8, 16, 32, 64), (1, 2, 4, 8, 16, 32), (4, 8, 16, 32, 64, 128))
BRAGG_ATTN_CH = ((1, 2, 4, 8, 16, 32), (2, 4, 8, 16, 32, 64))
BRAGG_MLP_W = ((4, 8, 16, 32, 64), (8, 16, 32, 64, 128))
#: activation index tuple (README: ReLU, GELU, LeakyReLU(0.01), None) — activations carry no
#: parameters, so the parameter count cannot confirm it
BRAGG_ACTS = ("relu", "gelu", "leaky_relu", "none")
DS_WIDTH = ((4, 8, 16, 32, 64), (8, 16, 32, 64, 128))
#: Deep Sets activation indices 0/1/2: ReLU, LeakyReLU, None (paper table C2 order)
DS_ACTS = ("relu", "leaky_relu", "none")

_NORM = {None: "none", "None": "none", "batch": "batch", "layer": "layer"}


def _bragg_sample(
    hp: Mapping[str, Any], proj: Sequence[int], ch: Sequence[int], attn: Sequence[int], widths: Sequence[int]
) -> dict[str, Any]:
    s: dict[str, Any] = {"proj.channels_0": proj[int(hp["Proj_outchannel"])]}
    img = 9  # 11x11 after the 3x3 projection
    for b in ("b0", "b1", "b2"):
        kind = hp[b]
        if kind == "Conv":
            s[b] = "conv"
            kernels = [int(hp[f"{b}_Conv_kernels_{i}"]) for i in range(2)]
            # nac-opt global_search.py: "while img_size - reduce_img_size <= 0: kernels[kernels.index(3)] = 1"
            # (the log keeps the sampled kernels, the model used the reduced ones)
            while img - 2 * kernels.count(3) <= 0:
                kernels[kernels.index(3)] = 1
            img -= 2 * kernels.count(3)
            for i in range(2):
                s[f"{b}.conv.channels_{i}"] = ch[int(hp[f"{b}_Conv_channels_{i}"])]
                s[f"{b}.conv.kernel_{i}"] = kernels[i]
                s[f"{b}.conv.norm_{i}"] = _NORM[hp[f"{b}_Conv_norms_{i}"]]
                s[f"{b}.conv.activation_{i}"] = BRAGG_ACTS[int(hp[f"{b}_Conv_acts_{i}"])]
        elif kind == "ConvAttn":
            s[b] = "attention"
            s[f"{b}.attention.hidden"] = attn[int(hp[f"{b}_ConvAttn_hiddenchannel"])]
            s[f"{b}.attention.activation"] = BRAGG_ACTS[int(hp[f"{b}_ConvAttn_act"])]
        elif kind == "None":
            s[b] = "none"
        else:
            raise ConfigError(f"block {b}: unknown kind {kind!r}")
    for i in range(3):
        s[f"mlp.width_{i}"] = widths[int(hp[f"MLP_width_{i}"])]
    for i in range(4):
        s[f"mlp.norm_{i}"] = _NORM[hp[f"MLP_norms_{i}"]]
        s[f"mlp.activation_{i}"] = BRAGG_ACTS[int(hp[f"MLP_acts_{i}"])]
    return s


_DS_PHI_NORM = {None: "none", "batch": "batch_rows", "sequence": "batch"}
_DS_RHO_NORM = {None: "none", "batch": "batch", "sequence": "batch"}


def _ds_sample(hp: Mapping[str, Any], widths: Sequence[int]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for net, norms in (("phi", _DS_PHI_NORM), ("rho", _DS_RHO_NORM)):
        n = int(hp[f"{net}_len"])
        s[f"{net}.layers"] = n
        for i in range(n - 1):
            s[f"{net}.width_{i}"] = widths[int(hp[f"{net}_MLP_width_{i}"])]
        for i in range(n):
            s[f"{net}.norm_{i}"] = norms[hp[f"{net}_MLP_norms_{i}"]]
            s[f"{net}.activation_{i}"] = DS_ACTS[int(hp[f"{net}_MLP_acts_{i}"])]
    s["phi.out"] = 2 ** int(hp["bottleneck_dim"])
    s["agg.function"] = ("mean", "max")[int(hp["aggregator_type"])]
    return s


def _variants(task: str) -> list[tuple[str, Any]]:
    if task == "braggnn":
        return [
            (f"proj={p} conv={c} attn={a} mlp={w}", lambda hp, p=p, c=c, a=a, w=w: _bragg_sample(hp, p, c, a, w))
            for p, c, a, w in itertools.product(BRAGG_PROJ, BRAGG_CONV_CH, BRAGG_ATTN_CH, BRAGG_MLP_W)
        ]
    return [(f"width={w}", lambda hp, w=w: _ds_sample(hp, w)) for w in DS_WIDTH]


def decode(trials: Sequence[LoggedTrial], spaces: Mapping[str, SearchSpace] | None = None) -> dict[str, str]:
    """Decode every trial in place (``trial.sample``, ``trial.decoded_params``); per run, the
    tuple variant matching the most parameter counts wins. Returns run -> chosen variant."""
    if spaces is None:
        spaces = {"braggnn": SearchSpace.load("braggnn_nacopt"), "deepsets": SearchSpace.load("deepsets_nacopt")}
    runs: dict[str, list[LoggedTrial]] = {}
    for t in trials:
        runs.setdefault(t.run, []).append(t)
    chosen: dict[str, str] = {}
    for run, ts in runs.items():
        task = ts[0].task
        space = spaces[task]
        best: tuple[int, str, list[tuple[dict[str, Any] | None, int | None, str]]] | None = None
        for label, fn in _variants(task):
            results: list[tuple[dict[str, Any] | None, int | None, str]] = []
            matches = 0
            for t in ts:
                try:
                    s = fn(t.hyperparams)
                    n = space.build(s).n_params
                    results.append((s, n, ""))
                    matches += int(n == t.param_count)
                except (KeyError, IndexError, ValueError, TypeError, ConfigError, CandidateError) as exc:
                    results.append((None, None, f"{type(exc).__name__}: {exc}"))
            if best is None or matches > best[0]:
                best = (matches, label, results)
        assert best is not None
        chosen[run] = best[1]
        for t, (smp, count, err) in zip(ts, best[2]):
            t.sample, t.decoded_params, t.error = smp, count, err
        log.info("%s: %d/%d trials decode with %s", run, best[0], len(ts), best[1])
    return chosen


def decoded(trials: Iterable[LoggedTrial]) -> list[LoggedTrial]:
    return [t for t in trials if t.decoded]
