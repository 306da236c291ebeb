"""hwsim search: a tiny NSGA-II search gives a Pareto front, constraints reach Optuna,
infeasible candidates fail (no sentinel), resume after a kill, two workers on one journal file
finish exactly N trials, ask/tell and CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from hwsim.search import SearchSpace  # noqa: E402
from hwsim.search.adapters import ask_tell, optuna_objective, parse_objectives, random_ask  # noqa: E402
from hwsim.search.objective import CandidateError, CostResult, Objective  # noqa: E402
from hwsim.search.runner import SearchRunner, hypervolume_2d, pareto_rows, trials_table, write_outputs  # noqa: E402

BOPS8 = {"weight_bits": "8", "act_bits": "8"}
TS = optuna.trial.TrialState


def _dominates(a, b, dirs):
    better_or_eq = all((x >= y) if d == "maximize" else (x <= y) for x, y, d in zip(a, b, dirs))
    strictly = any((x > y) if d == "maximize" else (x < y) for x, y, d in zip(a, b, dirs))
    return better_or_eq and strictly


def _finished(study):
    return [t for t in study.get_trials(deepcopy=False) if t.state in (TS.COMPLETE, TS.FAIL) and "stale" not in t.user_attrs]


def test_tiny_search_gives_a_pareto_front(tmp_path):
    sp = SearchSpace.load("deepsets")
    r = SearchRunner(sp, "bops", "accuracy,bops", n_trials=8, seed=3, overrides=BOPS8, population_size=4)
    assert r.metric.is_proxy and "PROXY" in r.metric.description
    res = r.run(progress=False)
    study = res.study
    done = [t for t in study.trials if t.state == TS.COMPLETE]
    assert len(_finished(study)) == 8 and res.ran == 8
    dirs = ["maximize", "minimize"]
    front = pareto_rows(study)
    assert front
    # independent non-dominance check over all complete trials
    pts = {t.number: t.values for t in done}
    for row in front:
        assert not any(_dominates(v, pts[row["trial"]], dirs) for n, v in pts.items() if n != row["trial"])
    for n, v in pts.items():
        if n not in {row["trial"] for row in front}:
            assert any(_dominates(pts[row["trial"]], v, dirs) or pts[row["trial"]] == v for row in front)
    # the costs recorded on each trial are hwsim's values for that trial's architecture
    t = done[0]
    g = sp.to_graph(t.params)
    h = t.user_attrs["hwsim"]
    assert t.values[1] == Objective("bops", overrides=BOPS8).cost(g)["bops"] == h["costs"]["bops"]
    assert h["kinds"]["bops"] == "analytical" and h["units"]["bops"] == "bit-op" and h["fingerprint"] == g.fingerprint()
    files = write_outputs(study, tmp_path)
    assert {Path(f).name for f in files} == {"trials.csv", "pareto.csv", "pareto.png"}
    head = (tmp_path / "trials.csv").read_text().splitlines()[0]
    assert head.startswith("#") and "PROXY" in head
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"


TINY_CNN = """
name: tinycnn
input_shape: [1, 5, 5]
task: {metric: mean_distance_px, direction: minimize, kind: regression}
blocks:
  - {type: conv, name: c, layers: 3, channels: {choices: [2, 4]}, kernel: {choices: [1, 3]}, activation: relu}
  - {type: flatten, name: f}
  - {type: mlp, name: head, layers: 1, out: 2}
"""


def _tiny_cnn():
    import yaml

    return SearchSpace(yaml.safe_load(TINY_CNN), "tinycnn.yaml")


def test_constraints_reach_optuna_and_infeasible_candidates_fail():
    sp = _tiny_cnn()  # three 3x3 convs do not fit a 5x5 input: 1 sample in 8 is infeasible
    r = SearchRunner(
        sp, "bops", "accuracy,bops", n_trials=30, seed=0, overrides=BOPS8, constraints=["bops<=1e5"], population_size=6
    )
    study = r.run(progress=False).study
    trials = _finished(study)
    assert len(trials) == 30
    failed = [t for t in trials if t.state == TS.FAIL]
    complete = [t for t in trials if t.state == TS.COMPLETE]
    assert failed, "expected some infeasible braggnn candidates in 30 random-ish trials"
    for t in failed:
        assert t.values is None and "InfeasibleCandidate" in t.user_attrs["error"]
    for t in complete:
        c = t.constraints
        assert list(c) == ["bops<=100000"]
        assert (c["bops<=100000"] <= 0) == (t.values[1] <= 1e5)
    assert all(all(v <= 0 for v in t.constraints.values()) for t in study.best_trials)


def test_optuna_objective_wrapper_with_study_optimize():
    sp = SearchSpace.load("deepsets")
    obj = Objective("bops", overrides=BOPS8, constraints=["bops<=2e5"])
    specs = parse_objectives("bops,params", sp, "unused", "maximize")
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(population_size=4, seed=1)
    )
    study.optimize(optuna_objective(sp, obj, specs), n_trials=6, catch=(CandidateError,))
    t = study.trials[0]
    assert t.values == [t.user_attrs["hwsim"]["costs"]["bops"], t.user_attrs["hwsim"]["costs"]["params"]]
    assert set(t.constraints) == {"bops<=200000"}
    assert (t.constraints["bops<=200000"] <= 0) == (t.values[0] <= 2e5)


def test_ask_tell_loop_without_optuna_engine():
    sp = _tiny_cnn()
    obj = Objective("bops", overrides=BOPS8)
    told = []
    gens = list(ask_tell(sp, obj, random_ask(sp, seed=4), lambda s, r: told.append((s, r)), generations=3, population=10))
    assert len(gens) == 3 and all(len(g) == 10 for g in gens)
    results = [r for g in gens for r in g]
    assert all(isinstance(r, (CostResult, CandidateError)) for r in results)
    assert any(isinstance(r, CandidateError) for r in results)  # typed, not a number
    s, r = told[0][0][0], told[0][1][0]
    if isinstance(r, CostResult):
        assert r["bops"] == obj.cost(sp.to_graph(s))["bops"]


def test_pymoo_adapter_is_optional():
    sp = SearchSpace.load("deepsets")
    try:
        import pymoo  # noqa: F401
    except ImportError:
        from hwsim.errors import OptionalDependencyError
        from hwsim.search.adapters import pymoo_problem

        with pytest.raises(OptionalDependencyError, match="pymoo"):
            pymoo_problem(sp, Objective("bops"), ["bops"])
    else:  # pragma: no cover - pymoo not installed in CI
        pytest.skip("pymoo installed: covered by the benchmark")


def test_resume_after_interruption_continues_the_same_study(tmp_path):
    sp = SearchSpace.load("deepsets")
    url = f"journal:{tmp_path / 'study.log'}"
    kw = dict(storage=url, study_name="s", seed=1, overrides=BOPS8, population_size=4)
    r1 = SearchRunner(sp, "bops", "accuracy,bops", n_trials=9, **kw)
    r1.run(progress=False, max_trials=4)  # "interrupted" after 4 trials
    numbers_before = sorted(t.number for t in _finished(r1.study))
    assert len(numbers_before) == 4
    # a worker killed inside a trial leaves it RUNNING with its (dead) pid
    code = textwrap.dedent(
        f"""
        import os, optuna
        from optuna.storages.journal import JournalStorage, JournalFileBackend
        st = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend({str(tmp_path / "study.log")!r})))
        tid = st._pop_waiting_trial_id()
        import socket
        st._storage.set_trial_user_attr(tid, "worker", socket.gethostname() + ":" + str(os.getpid()))
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    r2 = SearchRunner(sp, "bops", "accuracy,bops", n_trials=9, **kw)
    assert r2.study._study_id == r1.study._study_id
    res = r2.run(progress=False)
    fin = _finished(res.study)
    assert len(fin) == 9 and res.ran == 5
    assert sorted(t.number for t in fin)[:4] == numbers_before
    stale = [t for t in res.study.get_trials(deepcopy=False) if "stale" in t.user_attrs]
    assert len(stale) == 1 and stale[0].state == TS.FAIL
    assert not res.study.get_trials(deepcopy=False, states=(TS.WAITING, TS.RUNNING))
    # a third start does nothing: the study is complete
    assert SearchRunner(sp, "bops", "accuracy,bops", n_trials=9, **kw).run(progress=False).ran == 0


def test_existing_study_with_other_objectives_is_refused(tmp_path):
    from hwsim.errors import ConfigError

    sp = SearchSpace.load("deepsets")
    url = f"journal:{tmp_path / 'j.log'}"
    SearchRunner(sp, "bops", "accuracy,bops", n_trials=2, storage=url, study_name="x", overrides=BOPS8)
    with pytest.raises(ConfigError, match="objectives"):
        SearchRunner(sp, "bops", "accuracy,params", n_trials=2, storage=url, study_name="x", overrides=BOPS8)


def _worker_cmd(journal: Path, seed: int, n: int) -> list[str]:
    return [
        sys.executable, "-m", "hwsim.cli", "search", "deepsets", "--backend", "bops", "--objectives", "accuracy,bops",
        "--trials", str(n), "--storage", f"journal:{journal}", "--study", "par", "--seed", str(seed),
        "--set", "weight_bits=8", "--population", "4", "--no-progress",
    ]  # fmt: skip


def test_two_workers_on_one_journal_file_finish_exactly_n_trials(tmp_path):
    journal = tmp_path / "par.log"
    n = 16
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])
    )
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(_worker_cmd(journal, seed, n), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for seed in (1, 2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-500:] for o in outs]
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name="par", storage=JournalStorage(JournalFileBackend(str(journal))))
    trials = study.get_trials(deepcopy=False)
    fin = [t for t in trials if t.state in (TS.COMPLETE, TS.FAIL)]
    assert len(trials) == len(fin) == n
    assert sorted(t.number for t in fin) == list(range(n))
    workers = {t.user_attrs["worker"] for t in fin}
    assert len(workers) >= 1  # both usually take part; exactly-N holds either way
    assert time.monotonic() - t0 < 180


def test_cli_bad_input_is_one_error_line(tmp_path):
    from hwsim.cli import main

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hwsim.cli", "search", *args], capture_output=True, text=True, timeout=120)

    r = run("deepsets", "--backend", "bops", "--objectives", "accuracy,nosuchcost", "--trials", "2", "--no-progress")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error:") and "nosuchcost" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(str(tmp_path / "nope.yaml"), "--backend", "bops")
    assert r.returncode == 2 and "nope.yaml" in r.stderr and "Traceback" not in r.stderr
    r = run("deepsets", "--backend", "bops", "--objectives", "accuracy,bops", "--storage", "notaurl")
    assert r.returncode == 2 and "--storage" in r.stderr
    assert main is not None


def test_hypervolume_2d():
    assert hypervolume_2d([(1, 3), (2, 2), (3, 1)], (4, 4)) == pytest.approx(3 * 1 + 2 * 1 + 1 * 1)
    assert hypervolume_2d([], (1, 1)) == 0.0


def test_trials_table_marks_units_and_kinds():
    sp = SearchSpace.load("deepsets")
    r = SearchRunner(sp, "bops", "accuracy,bops", n_trials=2, seed=0, overrides=BOPS8)
    rows = trials_table(r.run(progress=False).study)
    assert "bops [bit-op, analytical]" in rows[0]


def test_user_training_function_is_the_task_metric(tmp_path, monkeypatch):
    (tmp_path / "mytrain_h8.py").write_text(
        "def score(module, sample):\n"
        "    n = sum(p.numel() for p in module.parameters())\n"
        "    return 1.0 / (1.0 + n) + (0.5 if sample['agg.function'] == 'max' else 0.0)\n"
    )
    monkeypatch.chdir(tmp_path)
    sp = SearchSpace.load("deepsets")
    r = SearchRunner(sp, "bops", "accuracy,bops", n_trials=4, seed=0, train="mytrain_h8:score", overrides=BOPS8)
    assert r.metric.kind == "user" and r.metric.name == "accuracy" and not r.metric.is_proxy
    study = r.run(progress=False).study
    for t in study.trials:
        n = t.user_attrs["hwsim"]["n_params"]
        assert t.values[0] == pytest.approx(1.0 / (1.0 + n) + (0.5 if t.params["agg.function"] == "max" else 0.0))
    from hwsim.errors import ConfigError

    with pytest.raises(ConfigError, match="nosuchmod"):
        SearchRunner(sp, "bops", "accuracy,bops", n_trials=2, train="nosuchmod:f", overrides=BOPS8)


def test_sqlite_storage_resume(tmp_path):
    pytest.importorskip("sqlalchemy")
    sp = SearchSpace.load("deepsets")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    kw = dict(storage=url, study_name="sq", seed=2, overrides=BOPS8, population_size=4)
    SearchRunner(sp, "bops", "accuracy,bops", n_trials=5, **kw).run(progress=False, max_trials=2)
    res = SearchRunner(sp, "bops", "accuracy,bops", n_trials=5, **kw).run(progress=False)
    assert res.ran == 3 and len(_finished(res.study)) == 5


@pytest.mark.slow
def test_resume_after_a_real_sigkill(tmp_path):
    """Kill a `hwsim search` worker with SIGKILL mid-study, start it again: the same study ends
    with exactly N finished trials (the killed one reclaimed)."""
    import signal

    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = tmp_path / "k.log"
    n = 30  # room to kill it mid-study even when trials run fast
    cmd = [
        sys.executable, "-m", "hwsim.cli", "search", "deepsets", "--backend", "bops", "--objectives", "accuracy,bops",
        "--trials", str(n), "--storage", f"journal:{journal}", "--study", "k", "--seed", "0", "--proxy", "synthetic",
        "--proxy-steps", "30", "--population", "4", "--no-progress",
    ]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if journal.exists():
            try:
                st = optuna.load_study(study_name="k", storage=JournalStorage(JournalFileBackend(str(journal))))
                done = len(_finished(st))
            except Exception:
                continue
            if done >= 3:
                break
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert 3 <= done < n
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-800:]
    st = optuna.load_study(study_name="k", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(_finished(st)) == n
    assert not st.get_trials(deepcopy=False, states=(TS.WAITING, TS.RUNNING))


def test_integer_encoding_for_pymoo_decodes_to_valid_samples():
    from hwsim.search.adapters import decode_vector, encode_space

    sp = SearchSpace.load("braggnn")
    enc = encode_space(sp)
    rng = __import__("random").Random(0)
    for _ in range(20):
        x = [rng.uniform(-0.4, len(vals) - 0.6) for _, vals in enc]
        s = decode_vector(sp, x, enc)
        # only the parameters the architecture uses, each a legal value
        specs = {p.name: p for p in sp.parameters()}
        assert all(s[k] in specs[k].values() for k in s)
        try:
            sp.build(s)
        except CandidateError:
            pass
