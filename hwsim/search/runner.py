"""Run an Optuna NSGA-II search with hwsim as the hardware objective.

Parallel and resumable by construction: the study holds a *queue* of exactly N trials
(``Study.enqueue_trial({})`` creates N empty WAITING trials once, whichever worker creates
the study). Every worker pops WAITING trials one at a time — the storage makes the pop atomic
(``set_trial_state_values(RUNNING)`` succeeds for one worker only, in RDB and journal storage
alike) — samples the candidate with NSGA-II, costs it, trains or scores it and tells the result.
A worker stops when the queue is empty, so any number of workers on one storage finish a study
of exactly N trials, none lost, none duplicated.

A worker that is killed leaves its trial RUNNING. When a worker starts, RUNNING trials of dead
processes on the same host (worker = ``host:pid``) — and, with ``stale_after_s``, any RUNNING
trial older than that — are marked FAIL (user attribute ``stale``) and a replacement is
enqueued: the study resumes and still ends with N finished trials (``stale`` ones not counted).
The sampler's random state is not stored, so a resumed study does not replay the same
sequence an uninterrupted one would have.
"""

from __future__ import annotations

import csv
import datetime as _dt
import logging
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError, OptionalDependencyError
from hwsim.search.adapters import ObjectiveSpec, evaluate, parse_objectives, record_trial
from hwsim.search.objective import CandidateError, Objective
from hwsim.search.proxies import TaskMetric, task_metric
from hwsim.search.spaces import SearchSpace

log = logging.getLogger(__name__)

QUEUE_ATTR = "hwsim:queue_n_trials"
WORKER_ATTR = "worker"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover
        raise OptionalDependencyError("hwsim search needs optuna (pip install 'hwsim[search]')") from exc
    return optuna


def make_storage(url: str | None) -> Any:
    """None (in memory), ``journal:PATH`` (Optuna JournalStorage on a JournalFileBackend — a
    shared filesystem works across machines) or an RDB URL (sqlite:///..., postgresql://...,
    mysql://...)."""
    optuna = _optuna()
    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        path = url[len("journal:") :]
        if not path:
            raise ConfigError("--storage journal:PATH: the path is empty")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    if "://" not in url:
        raise ConfigError(f"--storage {url!r}: expected journal:PATH or a database URL (sqlite:///file.db, postgresql://...)")
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # sqlalchemy raises many types
        raise ConfigError(f"--storage {url!r}: cannot open: {str(exc).splitlines()[0]}") from None


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class SearchResult:
    study: Any
    objectives: list[ObjectiveSpec]
    metric: TaskMetric
    backend: str
    ran: int = 0
    failed: int = 0
    files: list[str] = field(default_factory=list)


class SearchRunner:
    """One worker of a search (see the module docstring)."""

    def __init__(
        self,
        space: SearchSpace,
        backend: str,
        objectives: str | Sequence[str] = "accuracy,latency",
        n_trials: int = 20,
        storage: str | None = None,
        study_name: str | None = None,
        train: str | None = None,
        proxy: str = "capacity",
        proxy_steps: int = 60,
        seed: int | None = None,
        config: Mapping[str, Any] | None = None,
        overrides: Mapping[str, str] | None = None,
        constraints: Sequence[str] = (),
        population_size: int = 20,
        stale_after_s: float | None = None,
        metric: TaskMetric | None = None,
    ) -> None:
        if n_trials < 1:
            raise ConfigError(f"--trials {n_trials}: need at least 1")
        if population_size < 2:
            raise ConfigError(f"--population {population_size}: need at least 2")
        self.space = space
        self.n_trials = int(n_trials)
        self.metric = metric or task_metric(space, train, proxy, proxy_steps)  # proxy data: fixed seed 0
        self.objectives = parse_objectives(objectives, space, self.metric.name, self.metric.direction)
        self.objective = Objective(backend, config, dict(overrides or {}), tuple(constraints))
        self.backend = self.objective.backend_obj.name
        self.storage_url = storage
        self.study_name = study_name or f"{space.name}-{self.backend}-{'-'.join(o.name for o in self.objectives)}"
        self.seed = seed
        self.population_size = population_size
        self.stale_after_s = stale_after_s
        self._check_objectives()
        self.study = self._open_study()

    def _check_objectives(self) -> None:
        """Cost one buildable random sample so that an objective or constraint naming a value
        the backend does not report fails before any trial (ConfigError naming it)."""
        import random

        from hwsim.search.adapters import check_cost_keys

        rng = random.Random(0)
        for _ in range(50):
            try:
                probe = self.objective.cost(self.space.to_graph(self.space.sample_random(rng)))
            except CandidateError:
                continue
            check_cost_keys(self.objectives, probe)
            return

    # ------------------------------------------------------------------ study
    def _open_study(self) -> Any:
        optuna = _optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = make_storage(self.storage_url)
        sampler = optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=self.seed)
        directions = [o.direction for o in self.objectives]
        creator = True
        try:
            # the storage makes creation atomic: exactly one worker creates the study
            study = optuna.create_study(
                storage=storage, study_name=self.study_name, directions=directions, sampler=sampler, load_if_exists=False
            )
        except optuna.exceptions.DuplicatedStudyError:
            creator = False
            study = optuna.load_study(study_name=self.study_name, storage=storage, sampler=sampler)
            deadline = time.monotonic() + 60.0
            while QUEUE_ATTR not in study.user_attrs and time.monotonic() < deadline:
                time.sleep(0.2)  # the creator is still enqueueing
            if QUEUE_ATTR not in study.user_attrs:
                raise ConfigError(
                    f"study {self.study_name!r} exists but was not created by hwsim search (no trial queue)"
                ) from None
        except ValueError as exc:
            raise ConfigError(f"study {self.study_name!r}: {exc}") from None
        if [d.name.lower() for d in study.directions] != directions:
            raise ConfigError(
                f"study {self.study_name!r} exists with directions {[d.name.lower() for d in study.directions]}, not {directions}"
            )
        names = [o.name for o in self.objectives]
        existing = study.user_attrs
        if "objectives" in existing and list(existing["objectives"]) != names:
            raise ConfigError(f"study {self.study_name!r} exists with objectives {existing['objectives']}, not {names}")
        if "space" in existing and existing["space"] != self.space.name:
            raise ConfigError(f"study {self.study_name!r} searches space {existing['space']!r}, not {self.space.name!r}")
        if existing.get("metric_kind") not in (None, self.metric.kind) or existing.get("metric_name") not in (
            None,
            self.metric.name,
        ):
            raise ConfigError(
                f"study {self.study_name!r} was run with task metric {existing.get('metric_name')!r}, not {self.metric.name!r}"
            )
        if creator:
            # first worker: describe the study and enqueue exactly N empty trials
            study.set_user_attr("objectives", names)
            study.set_user_attr("space", self.space.name)
            study.set_user_attr("backend", self.backend)
            study.set_user_attr("metric_name", self.metric.name)
            study.set_user_attr("metric_kind", self.metric.kind)
            study.set_user_attr("metric_description", self.metric.description)
            study.set_user_attr(
                "params", {k: p.value for k, p in self.objective.params.items() if isinstance(p.value, (int, float, str, bool))}
            )
            for _ in range(self.n_trials):
                study.enqueue_trial({}, user_attrs={"queued": True})
            study.set_user_attr(QUEUE_ATTR, self.n_trials)
        elif int(existing[QUEUE_ATTR]) != self.n_trials:
            log.warning(
                "study %s was created for %s trials; --trials %s is ignored", self.study_name, existing[QUEUE_ATTR], self.n_trials
            )
            self.n_trials = int(existing[QUEUE_ATTR])
        return study

    def reclaim_stale(self) -> int:
        """Mark RUNNING trials of dead workers FAIL and enqueue a replacement for each."""
        optuna = _optuna()
        TS = optuna.trial.TrialState
        host = socket.gethostname()
        now = _dt.datetime.now()
        n = 0
        for t in self.study.get_trials(deepcopy=False, states=(TS.RUNNING,)):
            worker = str(t.user_attrs.get(WORKER_ATTR, ""))
            stale = False
            whost, _, wpid = worker.partition(":")
            if whost == host and wpid.isdigit() and int(wpid) != os.getpid() and not _pid_alive(int(wpid)):
                stale = True
            if (
                self.stale_after_s is not None
                and t.datetime_start is not None
                and (now - t.datetime_start).total_seconds() > self.stale_after_s
            ):
                stale = True
            if not stale:
                continue
            storage = self.study._storage
            storage.set_trial_user_attr(t._trial_id, "stale", f"worker {worker or '?'} died; reclaimed by {_worker_id()}")
            try:
                storage.set_trial_state_values(t._trial_id, state=TS.FAIL)
            except Exception:  # finished meanwhile by its (live) worker
                continue
            self.study.enqueue_trial({}, user_attrs={"queued": True, "replaces": t.number})
            n += 1
        if n:
            log.info("reclaimed %d stale trial(s)", n)
        return n

    def _pop(self) -> Any | None:
        """Atomically take one WAITING trial (None when the queue is empty)."""
        optuna = _optuna()
        self.study._thread_local.cached_all_trials = None
        tid = self.study._pop_waiting_trial_id()
        if tid is None:
            return None
        return optuna.Trial(self.study, tid)

    # ------------------------------------------------------------------ work
    def run(self, progress: bool = True, max_trials: int | None = None) -> SearchResult:
        """Work until the study's queue is empty (or ``max_trials`` ran in this worker)."""
        optuna = _optuna()
        TS = optuna.trial.TrialState
        self.reclaim_stale()
        res = SearchResult(self.study, self.objectives, self.metric, self.backend)
        bar = _Progress(
            self.n_trials,
            self._finished(),
            enabled=progress,
            title=f"{self.space.name} on {self.backend} ({self.metric.kind} metric: {self.metric.name})",
        )
        with bar:
            while max_trials is None or res.ran < max_trials:
                trial = self._pop()
                if trial is None:
                    break
                trial.set_user_attr(WORKER_ATTR, _worker_id())
                sample = self.space.sample(trial)
                try:
                    values, result, graph, _ = evaluate(self.space, sample, self.objective, self.objectives, self.metric)
                except CandidateError as exc:
                    trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
                    self.study.tell(trial, state=TS.FAIL)
                    res.failed += 1
                except BaseException:
                    # anything else (bad config, Ctrl-C): the trial goes back to the queue
                    trial.set_user_attr("stale", "interrupted")
                    self.study.tell(trial, state=TS.FAIL)
                    self.study.enqueue_trial({}, user_attrs={"queued": True, "replaces": trial.number})
                    raise
                else:
                    record_trial(trial, result, graph)
                    self.study.tell(trial, values)
                res.ran += 1
                bar.update(self._finished(), self._best_text())
        return res

    def _finished(self) -> int:
        optuna = _optuna()
        TS = optuna.trial.TrialState
        return sum(1 for t in self.study.get_trials(deepcopy=False, states=(TS.COMPLETE, TS.FAIL)) if "stale" not in t.user_attrs)

    def _best_text(self) -> str:
        try:
            front = self.study.best_trials
        except Exception:
            return ""
        return f"Pareto front: {len(front)}"


class _Progress:
    """A rich progress bar (silent when disabled or not on a terminal)."""

    def __init__(self, total: int, done: int, enabled: bool, title: str) -> None:
        self.enabled = enabled
        self.total, self.done, self.title = total, done, title
        self._p: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self._p.__enter__()
            self._task = self._p.add_task(self.title, total=self.total, completed=self.done, info="")
        return self

    def update(self, done: int, info: str) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=done, info=info)

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def trials_table(study: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, objective values, every hwsim cost (columns named
    ``KEY [unit, kind]``), params, error — stale (reclaimed) trials excluded."""
    names = list(study.user_attrs.get("objectives", [f"objective_{i}" for i in range(len(study.directions))]))
    rows: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        if "stale" in t.user_attrs or t.state.name in ("WAITING", "RUNNING"):
            continue
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        for i, n in enumerate(names):
            row[n] = t.values[i] if t.values else None
        h = t.user_attrs.get("hwsim", {})
        for key, v in h.get("costs", {}).items():
            row[f"{key} [{h.get('units', {}).get(key, '')}, {h.get('kinds', {}).get(key, '')}]"] = v
        row["feasible"] = all(c <= 0 for c in t.constraints.values()) if t.values else None
        row["fingerprint"] = h.get("fingerprint", "")
        row["error"] = t.user_attrs.get("error", "")
        row["sample"] = ";".join(f"{k}={v}" for k, v in sorted(t.params.items()))
        rows.append(row)
    return rows


def pareto_rows(study: Any) -> list[dict[str, Any]]:
    """Rows of the feasible Pareto front (Optuna's ``best_trials``: constraint-aware)."""
    best = {t.number for t in study.best_trials}
    return [r for r in trials_table(study) if r["trial"] in best]


def _atomic_write(path: Path, write: Any) -> None:
    from hwsim._io import atomic_write

    atomic_write(path, write)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path, header_note: str = "") -> None:
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)

    def w(p: Path) -> None:
        with p.open("w", newline="") as fh:
            if header_note:
                fh.write(f"# {header_note}\n")
            wr = csv.DictWriter(fh, fieldnames=list(cols))
            wr.writeheader()
            for r in rows:
                wr.writerow(r)

    _atomic_write(path, w)


def plot_pareto(study: Any, path: Path, title: str = "") -> bool:
    """Scatter of the first two objectives, Pareto front highlighted (PNG, Agg backend).
    Axis labels carry units and say PROXY when the task metric is a proxy."""
    if len(study.directions) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(study.user_attrs.get("objectives", ["objective 0", "objective 1"]))
    rows = [r for r in trials_table(study) if r["state"] == "COMPLETE"]
    if not rows:
        return False
    front = sorted(pareto_rows(study), key=lambda r: r[names[1]])
    kind = study.user_attrs.get("metric_kind", "")
    mname = study.user_attrs.get("metric_name", "")

    def label(n: str) -> str:
        from hwsim.search.objective import unit_of

        if n == mname:
            return f"{n} ({'PROXY — not a task metric' if kind == 'proxy' else 'task metric'})"
        u = unit_of(n)
        return f"{n} [{u}]" if u else n

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter([r[names[1]] for r in rows], [r[names[0]] for r in rows], s=12, c="0.6", label="trials")
    ax.plot([r[names[1]] for r in front], [r[names[0]] for r in front], "o-", c="C3", ms=5, label="Pareto front (feasible)")
    ax.set_xlabel(label(names[1]))
    ax.set_ylabel(label(names[0]))
    if names[1] in ("latency_s", "bops", "macs", "params", "ii_s") and all(r[names[1]] and r[names[1]] > 0 for r in rows):
        ax.set_xscale("log")
    ax.set_title(
        title or f"{study.user_attrs.get('space', '')} on {study.user_attrs.get('backend', '')}: {len(rows)} trials", fontsize=10
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    _atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)
    return True


def write_outputs(study: Any, out: Path) -> list[str]:
    """trials.csv, pareto.csv and pareto.png in ``out``; the CSVs start with a comment line
    naming the task metric and whether it is a proxy."""
    note = f"task metric {study.user_attrs.get('metric_name', '?')}: {study.user_attrs.get('metric_description', '')}; backend {study.user_attrs.get('backend', '?')}"
    files = []
    write_csv(trials_table(study), out / "trials.csv", note)
    files.append(str(out / "trials.csv"))
    write_csv(pareto_rows(study), out / "pareto.csv", note)
    files.append(str(out / "pareto.csv"))
    if plot_pareto(study, out / "pareto.png"):
        files.append(str(out / "pareto.png"))
    return files


def hypervolume_2d(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Hypervolume of 2-D minimisation points against ``ref`` (for comparisons)."""
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1] and all(math.isfinite(v) for v in p))
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv
