"""Predict hls4ml latency/resources with the peer tool rule4ml 0.2.0, for side-by-side comparison.

Runs ONLY inside a separate virtual environment holding rule4ml (GPL-3.0; it pulls TensorFlow,
Keras 3 and PyTorch), never in the project's own Python::

    python3.11 -m venv /tmp/r4ml && /tmp/r4ml/bin/pip install rule4ml==0.2.0
    cd /work/main && /tmp/r4ml/bin/python benchmarks/rule4ml_predict.py

This script does not import hwsim and the project does not import rule4ml; only rule4ml's outputs
(``benchmarks/data/rule4ml_predictions.csv``) are kept. See ``benchmarks/data/RULE4ML_PROVENANCE.md``.

What is predicted (rule4ml's default estimators = ``weights/v2/gnn``: BRAM, DSP, FF, LUT, CYCLES,
INTERVAL; board "alveo-u250" = part xcu250-figd2104-2L-e, which rule4ml supports directly):

a. every row of ``calibration/reports/wa-hls4ml/dense_2layer_sample.csv``:
   Dense(in->hidden), Dense(hidden->out), no activations, ``ap_fixed<prec, 1>``, the row's requested
   reuse factor, Resource strategy, Vivado/Vitis version 2023.2.
b. the jet tagger 16-64-32-32-5 (ReLU, ReLU, ReLU, softmax), ``ap_fixed<16, 6>``, RF 1, Latency.
c. the hls4ml CI Keras ``test_activations`` designs: Dense(64) on a 1-element input followed by
   ReLU / ELU / sigmoid / LeakyReLU, ``ap_fixed<16, 6>``, RF 1, Latency.

rule4ml has no io_type, clock-period or data-precision inputs; its CYCLES target is the mean of
csynth best/worst latency and INTERVAL the mean of min/max interval (rule4ml's
``get_prediction_targets``). ``--hls4ml-version`` selects rule4ml's hls4ml-version category
(0.8.1 or 1.1.0; default 1.1.0).

Timing: ``wall_ms`` is the wall clock of one ``MultiModelWrapper.predict`` call for one design
(all six estimators; Keras model construction excluded), after one warm-up call. A batched pass
(one predict call per (precision, reuse-factor) group of wa-hls4ml rows) is also timed and
checked against the single-design predictions; its numbers are printed, not written.

Known issue: with the wheels pip resolves today (tensorflow 2.21, torch 2.14.1+cu130,
torch-geometric 2.8.1) ``import rule4ml.models.wrappers`` segfaults unless torch_geometric is
imported before keras/tensorflow, hence the first import below.
"""

import torch_geometric  # noqa: F401, I001  (must come before keras/tensorflow: import-order segfault)

import argparse
import csv
import os
import statistics
import sys
import time

T_IMPORT0 = time.perf_counter()
import keras  # noqa: E402
import rule4ml  # noqa: E402
from rule4ml.models.wrappers import MultiModelWrapper  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT0

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WA_CSV = os.path.join(REPO, "calibration", "reports", "wa-hls4ml", "dense_2layer_sample.csv")
OUT_CSV = os.path.join(REPO, "benchmarks", "data", "rule4ml_predictions.csv")
BOARD = "alveo-u250"
VIVADO_VERSION = "2023.2"
COLUMNS = [
    "design",
    "row_id",
    "model_string",
    "prec",
    "rf",
    "strategy",
    "board",
    "pred_latency_cycles",
    "pred_ii_cycles",
    "pred_DSP",
    "pred_LUT",
    "pred_FF",
    "pred_BRAM_18K",
    "wall_ms",
]
OUT_KEYS = {  # CSV column -> rule4ml output column
    "pred_latency_cycles": "CYCLES",
    "pred_ii_cycles": "INTERVAL",
    "pred_DSP": "DSP",
    "pred_LUT": "LUT",
    "pred_FF": "FF",
    "pred_BRAM_18K": "BRAM",
}


def dense2(widths, name):
    n_in, n_hid, n_out = widths
    inp = keras.layers.Input(shape=(n_in,))
    x = keras.layers.Dense(n_hid)(inp)
    out = keras.layers.Dense(n_out)(x)
    m = keras.Model(inp, out, name=name)
    m.build((None, n_in))
    return m


def jet_tagger():
    inp = keras.layers.Input(shape=(16,))
    x = keras.layers.Dense(64, activation="relu")(inp)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    m = keras.Model(inp, out, name="jet_tagger_16-64-32-32-5")
    m.build((None, 16))
    return m


def ci_activation(act):
    """hls4ml test_keras_api.py::test_activations: Dense(64) on shape (1,), then the activation."""
    layer = {
        "relu": lambda: keras.layers.Activation("relu"),
        "elu": lambda: keras.layers.ELU(alpha=1.0),
        "sigmoid": lambda: keras.layers.Activation("sigmoid"),
        "leaky_relu": lambda: keras.layers.LeakyReLU(negative_slope=1.5),
    }[act]()
    inp = keras.layers.Input(shape=(1,))
    x = keras.layers.Dense(64)(inp)
    out = layer(x)
    m = keras.Model(inp, out, name=f"ci_activation_{act}")
    m.build((None, 1))
    return m


def ci_conv2d():
    """hls4ml test_keras_api.py::test_conv2d: Conv2D(32, 4x4, stride 4, 'same', no bias) on 28x28x3."""
    inp = keras.layers.Input(shape=(28, 28, 3))
    out = keras.layers.Conv2D(32, (4, 4), strides=(4, 4), padding="same", use_bias=False)(inp)
    m = keras.Model(inp, out, name="ci_conv2d")
    m.build((None, 28, 28, 3))
    return m


def tutorial_cnn():
    """hls4ml tutorial part 6 CNN (SVHN 32x32x3): 3x [Conv2D 3x3 (16,16,24), BN, ReLU, MaxPool 2x2],
    Flatten, Dense 42/64 + BN + ReLU, Dense 10, softmax."""
    inp = keras.layers.Input(shape=(32, 32, 3))
    x = inp
    for f in (16, 16, 24):
        x = keras.layers.Conv2D(f, 3, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    for n in (42, 64):
        x = keras.layers.Dense(n, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    out = keras.layers.Activation("softmax")(keras.layers.Dense(10)(x))
    m = keras.Model(inp, out, name="tutorial_cnn")
    m.build((None, 32, 32, 3))
    return m


def cfg(strategy, precision, rf):
    return {"board": BOARD, "model": {"strategy": strategy, "precision": precision, "reuse_factor": rf}}


def predict(est, models, config, hls4ml_version, vivado_version=VIVADO_VERSION):
    t0 = time.perf_counter()
    df = est.predict(models, hls_configs=config, hls4ml_versions=hls4ml_version, vivado_versions=vivado_version, round_digits=6)
    return df, (time.perf_counter() - t0) * 1e3


def row_values(df_row):
    return {k: float(df_row[v]) for k, v in OUT_KEYS.items() if v in df_row.index}


def mape(pred, true):
    errs = [abs(p - t) / abs(t) * 100 for p, t in zip(pred, true) if t != 0]
    return statistics.median(errs) if errs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hls4ml-version", default="1.1.0", choices=["0.8.1", "1.1.0"])
    ap.add_argument("--out", default=OUT_CSV)
    ap.add_argument("--limit", type=int, default=None, help="only the first N wa-hls4ml rows")
    args = ap.parse_args()
    hv = args.hls4ml_version

    print(f"rule4ml {rule4ml.__version__}, keras {keras.__version__}, import of keras+rule4ml.models.wrappers: {IMPORT_S:.2f} s")
    t0 = time.perf_counter()
    est = MultiModelWrapper()
    est.load_default_models()
    print(f"load_default_models: {time.perf_counter() - t0:.2f} s; estimators {list(est._models)}")

    with open(WA_CSV, newline="") as f:
        wa_rows = list(csv.DictReader(f))
    if args.limit:
        wa_rows = wa_rows[: args.limit]

    # warm-up
    predict(est, dense2((16, 16, 16), "warmup"), cfg("resource", "ap_fixed<8, 1>", 4), hv)

    out_rows, wa_pred, wall = [], [], []
    # (a) wa-hls4ml rows, one design per predict call
    t_all = time.perf_counter()
    for i, r in enumerate(wa_rows):
        widths = tuple(int(x) for x in r["model_string"].split("-"))
        rid = r["model_file"].removesuffix(".tar.gz")
        prec, rf = int(r["prec"]), int(r["rf"])
        m = dense2(widths, f"wa_{i}")
        df, ms = predict(est, m, cfg("resource", f"ap_fixed<{prec}, 1>", rf), hv)
        vals = row_values(df.iloc[0])
        wa_pred.append(vals)
        wall.append(ms)
        out_rows.append(
            {
                "design": "wa-hls4ml-2layer",
                "row_id": rid,
                "model_string": r["model_string"],
                "prec": prec,
                "rf": rf,
                "strategy": "Resource",
                "board": BOARD,
                **vals,
                "wall_ms": f"{ms:.2f}",
            }
        )
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(wa_rows)} rows", flush=True)
    t_all = time.perf_counter() - t_all

    # (b) jet tagger
    jet, ms = predict(est, jet_tagger(), cfg("latency", "ap_fixed<16, 6>", 1), hv)
    jet_vals = row_values(jet.iloc[0])
    out_rows.append(
        {
            "design": "jet-tagger",
            "row_id": "jet_16-64-32-32-5",
            "model_string": "16-64-32-32-5",
            "prec": 16,
            "rf": 1,
            "strategy": "Latency",
            "board": BOARD,
            **jet_vals,
            "wall_ms": f"{ms:.2f}",
        }
    )

    # (c) hls4ml CI activation tests
    def ci_row(design, row_id, vals, ms):
        """One CSV row of a CI design: Dense(64) on one input, ap_fixed<16,6>, RF 1, Latency."""
        return {
            "design": design,
            "row_id": row_id,
            "model_string": "1-64",
            "prec": 16,
            "rf": 1,
            "strategy": "Latency",
            "board": BOARD,
            **vals,
            "wall_ms": f"{ms:.2f}",
        }

    rejected = {}
    ci_vals = {}
    for act in ["relu", "elu", "sigmoid", "leaky_relu"]:
        try:
            df, ms = predict(est, ci_activation(act), cfg("latency", "ap_fixed<16, 6>", 1), hv)
        except Exception as e:  # record rule4ml's rejection
            rejected[act] = f"{type(e).__name__}: {e}"
            continue
        ci_vals[act] = row_values(df.iloc[0])
        out_rows.append(ci_row(f"hls4ml-ci-activation-{act}", f"ci_activations_{act}", ci_vals[act], ms))
    # the rejected layer classes, retried as keras.layers.Activation("<name>") (not the CI model
    # itself: rule4ml has no elu/leaky_relu layer type, see the printed note)
    for act in [a for a in ("elu", "leaky_relu") if a in rejected]:
        inp = keras.layers.Input(shape=(1,))
        m = keras.Model(inp, keras.layers.Activation(act)(keras.layers.Dense(64)(inp)), name=f"ci_activation_{act}_as_Activation")
        m.build((None, 1))
        try:
            df, ms = predict(est, m, cfg("latency", "ap_fixed<16, 6>", 1), hv)
        except Exception as e:
            rejected[act + " (as Activation)"] = f"{type(e).__name__}: {e}"
            continue
        ci_vals[act + " (as Activation)"] = row_values(df.iloc[0])
        out_rows.append(
            ci_row(
                f"hls4ml-ci-activation-{act}-as-Activation",
                f"ci_activations_{act}_as_Activation",
                ci_vals[act + " (as Activation)"],
                ms,
            )
        )

    # (d) conv nets with csynth truth in the repo: the hls4ml CI Conv2D (Resource, RF 1, Vivado
    # 2020.1 / Vitis 2024.1 baselines) and the tutorial CNN (Latency, io_stream, Vivado 2020.1)
    for design, build, strategy, vv in (
        ("hls4ml-ci-conv2d", ci_conv2d, "resource", "2020.1"),
        ("tutorial-cnn", tutorial_cnn, "latency", "2020.1"),
    ):
        try:
            predict(est, build(), cfg(strategy, "ap_fixed<16, 6>", 1), hv, vv)  # warm-up
            df, ms = predict(est, build(), cfg(strategy, "ap_fixed<16, 6>", 1), hv, vv)
        except Exception as e:  # record rule4ml's rejection
            rejected[design] = f"{type(e).__name__}: {e}"
            print(f"{design}: REJECTED {rejected[design]}")
            continue
        row = ci_row(design, design, row_values(df.iloc[0]), ms)
        row.update(model_string=design, strategy=strategy.capitalize())
        out_rows.append(row)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in out_rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {len(out_rows)} rows to {args.out}")

    # batched pass: one predict call per (prec, rf) group, compared with the single-design predictions
    groups = {}
    for i, r in enumerate(wa_rows):
        groups.setdefault((int(r["prec"]), int(r["rf"])), []).append(i)
    models = {i: dense2(tuple(int(x) for x in wa_rows[i]["model_string"].split("-")), f"wa_{i}") for i in range(len(wa_rows))}
    t_b = time.perf_counter()
    max_rel = 0.0
    for (prec, rf), idx in groups.items():
        df, _ = predict(est, [models[i] for i in idx], cfg("resource", f"ap_fixed<{prec}, 1>", rf), hv)
        by_name = {row["Model"]: row for _, row in df.iterrows()}
        for i in idx:
            b = row_values(by_name[f"wa_{i}"])
            for k, v in b.items():
                s = wa_pred[i][k]
                max_rel = max(max_rel, abs(v - s) / max(abs(s), 1e-9))
    t_b = time.perf_counter() - t_b

    # summary vs the csv's csynth numbers
    def col(name):
        return [float(r[name]) for r in wa_rows]

    lat_true, dsp_true = col("BestLatency_hls"), col("DSP_hls")
    lat_pred = [p["pred_latency_cycles"] for p in wa_pred]
    dsp_pred = [p["pred_DSP"] for p in wa_pred]
    n = len(wa_rows)
    print(f"\n=== summary (hls4ml_version category {hv}, vivado_version {VIVADO_VERSION}, board {BOARD}) ===")
    print(f"wa-hls4ml rows: {n}")
    print(f"latency exact (round(pred) == BestLatency_hls): {sum(round(p) == t for p, t in zip(lat_pred, lat_true))}/{n}")
    lat_mean = [(float(r["BestLatency_hls"]) + float(r["WorstLatency_hls"])) / 2 for r in wa_rows]
    print(f"latency exact vs (Best+Worst)/2 rounded: {sum(round(p) == round(t) for p, t in zip(lat_pred, lat_mean))}/{n}")
    print(f"DSP exact (round(pred) == DSP_hls): {sum(round(p) == t for p, t in zip(dsp_pred, dsp_true))}/{n}")
    print(f"median APE latency vs BestLatency_hls: {mape(lat_pred, lat_true):.1f} %")
    ii_pred = [p["pred_ii_cycles"] for p in wa_pred]
    print(f"median APE II vs IntervalMin_hls: {mape(ii_pred, col('IntervalMin_hls')):.1f} %")
    nz = [(p, t) for p, t in zip(dsp_pred, dsp_true) if t > 0]
    print(f"median APE DSP (rows with DSP_hls > 0, n={len(nz)}): {mape(*zip(*nz)):.1f} %")
    print(f"median APE LUT: {mape([p['pred_LUT'] for p in wa_pred], col('LUT_hls')):.1f} %")
    print(f"median APE FF: {mape([p['pred_FF'] for p in wa_pred], col('FF_hls')):.1f} %")
    print(f"jet tagger: {jet_vals}")
    for act, v in ci_vals.items():
        print(f"ci activation {act}: {v}")
    for act, msg in rejected.items():
        print(f"{act}: REJECTED {msg}")
    print("\n=== timing ===")
    print(f"import keras+rule4ml (in-process): {IMPORT_S:.2f} s")
    print(
        f"single-design predict (wa rows, n={len(wall)}): median {statistics.median(wall):.1f} ms, "
        f"min {min(wall):.1f} ms, max {max(wall):.1f} ms; loop total {t_all:.1f} s"
    )
    print(
        f"batched predict: {len(groups)} calls for {n} designs, {t_b:.2f} s total "
        f"({t_b / n * 1e3:.2f} ms/design incl. Keras model objects prebuilt); "
        f"max rel. diff batch vs single {max_rel:.2e}"
    )


if __name__ == "__main__":
    sys.exit(main())
