"""Train, compare and pick the DT-JRD predictor vcm ships, on a dataset from tools/build_jrd_dataset.py.

    python tools/pick_dtjrd.py WORK/ds --json WORK/pick.json                       # measure only
    python tools/pick_dtjrd.py WORK/ds --json WORK/pick.json --ship vcm/data/dtjrd_vit_s14.pt

Candidates, all a 64-way head on cached vit-s14 features (the `--train head` cache): `features` (DT-JRD's head),
`features+inputs` (plus box size, shape, position, detector score and class: vcm.jrd.inputs, as AMT-JRD adds) and
`inputs` (the box inputs alone: a learned prior). Each trained two ways: `softlabel`, DT-JRD's recipe (Gaussian
soft labels, SGD, cosine, early stopping on the val split) at a few learning rates and weight decays, and
`median`, a ridge-penalised median regression written as a Gaussian head (vcm.jrd.head.fit_median_head) at a
few penalties. The pick is the lowest cross-validated MAE over the natural training crops (CV_RULE: folds by
scene; the 45-crop val split is too small to pick among dozens of candidates and early stopping has seen it).
Baselines on the same objects: the constant train median and the shipped box-size prior (vcm/data/jrd_prior.json).
Everything is reported on the test split (natural photos never trained on, never used to pick): MAE (E_A), MAE on
labels in [27, 51], mean signed error, and MAE per size class (box area < 32^2, < 96^2, larger).
`--ship` writes the pick only if it beats both baselines on the test split; otherwise it says so and writes nothing.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from vcm.fsutil import write_text_atomic

INPUT_NAMES = ("log2_area", "log2_rel_area", "log2_aspect", "cx", "cy", "score", "person", "prior")
LRS = (0.01, 0.003)
WEIGHT_DECAYS = (5e-5, 1e-2)  # DT-JRD's, and a strong one for a few hundred crops
DECODES = ("argmax", "expectation")
PICK_KEYS = ("data", "inputs", "fit", "lr", "weight_decay", "lam", "decode", "epoch")
MEDIAN_LAMBDAS = (1.0, 10.0, 100.0, 1000.0)  # ridge penalties of the median-regression head (standardised inputs)
SIZE_CLASSES = (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, float("inf")))


CV_FOLDS = 5
CV_RULE = (f"{CV_FOLDS}-fold cross-validation over the natural training crops, folds by scene (sha256 of the scene "
           f"mod {CV_FOLDS}); composed pictures train in every fold and are never scored; softlabel fits stop early on "
           "the val split, which no fold scores")


def cv_folds(ds: Path, rows: dict[str, dict], train_names: list[str], composed: set[str]) -> np.ndarray:
    """Fold (0..CV_FOLDS-1) of each training crop by its scene (WORK/split.json beside the dataset, else the
    picture), -1 for a composed crop. Why not the val split: its 45 crops of 33 photos are too few to pick
    among dozens of candidates, and early stopping has already looked at them."""
    import hashlib

    split = ds.parent / "split.json"
    recs = json.loads(split.read_text()).get("pictures", []) if split.is_file() else []
    scene = {p["name"]: p["scene"] for p in recs if p.get("scene")}
    out = []
    for n in train_names:
        pic = rows[n]["picture"]
        key = scene.get(pic, pic)
        out.append(-1 if n in composed else int(hashlib.sha256(key.encode()).hexdigest(), 16) % CV_FOLDS)
    return np.array(out)


def _rows(ds: Path) -> dict[str, dict]:
    return {r["name"]: r for r in csv.DictReader((ds / "labels.csv").open())}


def _inputs(rows: dict[str, dict], names: list[str]) -> np.ndarray:
    from vcm.jrd.inputs import object_inputs

    return np.stack([object_inputs(INPUT_NAMES, [float(rows[n][k]) for k in ("x1", "y1", "x2", "y2")],
                                   int(rows[n]["width"]), int(rows[n]["height"]), float(rows[n]["score"]),
                                   rows[n]["class"]) for n in names]) if names else np.zeros((0, len(INPUT_NAMES)))


def _prior(rows: dict[str, dict], names: list[str]) -> list[int]:
    from vcm.jrd.prior import load_prior, prior_jrd
    from vcm.types import Detection

    table = load_prior()
    per_pic: dict[tuple, int] = {}
    for r in rows.values():
        key = (r["group"], r["picture"])
        per_pic[key] = per_pic.get(key, 0) + 1
    out = []
    for n in names:
        r = rows[n]
        det = Detection(tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")), int(r["class_id"]), r["class"],
                        float(r["score"]))
        out.append(prior_jrd(table, det, per_pic[(r["group"], r["picture"])])[0])
    return out


def report(truth: list[int], pred, median: float, rows: dict, names: list[str]) -> dict:
    from vcm.jrd.scoring import score

    s = score(list(truth), [int(p) for p in pred], median).to_json()
    err = np.abs(np.asarray(pred, float) - np.asarray(truth, float))
    area = np.array([(float(rows[n]["x2"]) - float(rows[n]["x1"])) * (float(rows[n]["y2"]) - float(rows[n]["y1"]))
                     for n in names])
    s["by_size"] = {c: {"n": int(((area >= lo) & (area < hi)).sum()),
                        "mae": round(float(err[(area >= lo) & (area < hi)].mean()), 3) if ((area >= lo) & (area < hi)).any() else None}
                    for c, lo, hi in SIZE_CLASSES}
    return s


def distribution(labels) -> dict:
    """n, median, mean, % <= 20, % >= 51 and the histogram in 8-QP bins: the OW-JRD comparison of docs/DTJRD.md."""
    v = np.asarray(list(labels), float)
    if not len(v):
        return {"n": 0}
    return {"n": int(len(v)), "median": float(np.median(v)), "mean": round(float(v.mean()), 1),
            "pct_le_20": round(100 * float((v <= 20).mean()), 1), "pct_ge_51": round(100 * float((v >= 51).mean()), 1),
            "hist8": np.histogram(v, bins=range(0, 72, 8))[0].tolist()}


def features(ds_root: Path, names_by_split: dict[str, list[str]], log=print):
    """(model, spec, {split: plain features}, train flipped features) from the vit-s14 feature cache."""
    import torch

    from vcm.jrd.backbones import vit_s14_ref
    from vcm.jrd.data import read_dataset
    from vcm.jrd.features import FeatureCache, FeatureSpec
    from vcm.jrd.model import NORMALISATIONS, ModelConfig, build_model

    torch.set_num_threads(1)
    ds = read_dataset(ds_root)
    mean, std = NORMALISATIONS["imagenet"]
    mconf = ModelConfig.for_backbone("vit-s14", resize="stretch", mean=mean, std=std, decode="argmax")
    model = build_model(mconf, "vit-s14")
    ref = vit_s14_ref(None)
    spec = FeatureSpec(mconf.backbone, ref.sha256, mconf.img_size, mconf.resize, tuple(mean), tuple(std), "fp32")
    cache = FeatureCache(spec, None)
    out = {}
    for split, names in names_by_split.items():
        out[split], _ = cache.features(model, [ds.crop_path(n) for n in names], False, batch_size=16, log=log)
    flipped, _ = cache.features(model, [ds.crop_path(n) for n in names_by_split["train"]], True, batch_size=16, log=log)
    return model, mconf, ref, out, flipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ds", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--ship", type=Path, default=None, help="write the pick here if it beats both baselines on test")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--owjrd", type=Path, default=None, help="folder with the authors' JRD_info.json (distribution)")
    a = ap.parse_args(argv)

    import itertools

    from vcm.jrd.data import read_dataset
    from vcm.jrd.head import fit_head, fit_median_head, head_jrds

    ds = read_dataset(a.ds)
    rows = _rows(a.ds)
    names = {s: ds.names(s) for s in ("train", "val", "test")}
    y = {s: np.array([ds.labels[n] for n in v]) for s, v in names.items()}
    median = float(np.median(y["train"]))
    model, mconf, ref, feats, flipped = features(a.ds, names)
    extra = {s: _inputs(rows, v) for s, v in names.items()}
    sets = {"features": (lambda s, f=None: feats[s] if f is None else f),
            "features+inputs": (lambda s, f=None: np.concatenate([feats[s] if f is None else f, extra[s]], 1)),
            "inputs": (lambda s, f=None: extra[s])}
    results: dict = {"dataset": str(a.ds), "counts": {s: len(v) for s, v in names.items()},
                     "natural_train": sum(not rows[n]["group"].startswith("composed") for n in names["train"]),
                     "train_median": median, "candidates": [], "baselines": {}}
    composed = {n for n in names["train"] if rows[n]["group"].startswith("composed")}
    results["distribution"] = {"train natural": distribution(ds.labels[n] for n in names["train"] if n not in composed),
                               "train composed": distribution(ds.labels[n] for n in composed),
                               "val": distribution(y["val"]), "test": distribution(y["test"])}
    if a.owjrd and (a.owjrd / "JRD_info.json").is_file():
        results["distribution"]["OW-JRD (authors)"] = distribution(json.loads((a.owjrd / "JRD_info.json").read_text()).values())
    for k, d in results["distribution"].items():
        print(f"labels {k:18s} {json.dumps(d)}")
    print(f"train {len(names['train'])} ({results['natural_train']} natural), val {len(names['val'])}, "
          f"test {len(names['test'])}; train median {median:g}")
    for s in ("val", "test"):
        results["baselines"][f"constant_{s}"] = report(y[s], [median] * len(y[s]), median, rows, names[s])
        results["baselines"][f"prior_{s}"] = report(y[s], _prior(rows, names[s]), median, rows, names[s])
    best = None
    natural = np.array([n not in composed for n in names["train"]])
    folds = cv_folds(a.ds, rows, names["train"], composed)
    results["cv"] = {"folds": CV_FOLDS, "crops": int((folds >= 0).sum()), "rule": CV_RULE}
    cv_truth = y["train"][folds >= 0]
    cv_const = np.concatenate([np.abs(np.median(y["train"][(folds != k) & natural]) - y["train"][folds == k])
                               for k in range(CV_FOLDS)])
    results["baselines"]["constant_cv"] = {"mae": round(float(cv_const.mean()), 3)}
    results["baselines"]["prior_cv"] = {"mae": round(float(np.mean(np.abs(np.asarray(
        _prior(rows, [n for n, f in zip(names["train"], folds) if f >= 0])) - cv_truth))), 3)}
    for data in ("natural+composed", "natural"):
        keep = np.ones(len(natural), bool) if data == "natural+composed" else natural
        if data == "natural" and not composed:
            continue  # the same candidates again
        for kind, make in sets.items():
            plain_x = make("train")
            views = np.stack([plain_x, make("train", flipped)], 1)
            fits = [({"fit": "softlabel", "lr": lr, "weight_decay": wd, "lam": None},
                     lambda m, lr=lr, wd=wd: fit_head(views[m], y["train"][m], make("val"), y["val"], epochs=a.epochs,
                                                      lr=lr, weight_decay=wd, patience=a.patience, batch_size=32,
                                                      train_median=median), DECODES)
                    for lr, wd in itertools.product(LRS, WEIGHT_DECAYS)]
            fits += [({"fit": "median", "lr": None, "weight_decay": None, "lam": lam},
                      lambda m, lam=lam: fit_median_head(views[m], y["train"][m], make("val"), y["val"], lam=lam,
                                                         train_median=median), ("argmax",))
                     for lam in MEDIAN_LAMBDAS]
            for how, run, decodes in fits:
                held = {d: [] for d in decodes}
                for k in range(CV_FOLDS):  # the pick's number: crops of scenes the fit never saw
                    f = run(keep & (folds != k))
                    for d in decodes:
                        held[d].append(head_jrds(f.state, plain_x[folds == k], d) - y["train"][folds == k])
                fit = run(keep)
                for decode in decodes:
                    pred = {s: head_jrds(fit.state, make(s), decode) for s in ("train", "val", "test")}
                    c = {"data": data, "inputs": kind, **how, "decode": decode, "epoch": fit.best_epoch,
                         "cv": {"mae": round(float(np.abs(np.concatenate(held[decode])).mean()), 3)},
                         **{s: report(y[s], pred[s], median, rows, names[s]) for s in ("train", "val", "test")}}
                    results["candidates"].append(c)
                    knob = (f"lam {how['lam']:<6g}" if how["fit"] == "median"
                            else f"lr {how['lr']:<6g} wd {how['weight_decay']:<6g}")
                    print(f"{data:17s} {kind:16s} {how['fit']:9s} {knob:17s} {decode:11s} epoch {fit.best_epoch:3d}: "
                          f"cv {c['cv']['mae']:.2f}  train {c['train']['mae']:.2f}  val {c['val']['mae']:.2f}  "
                          f"test {c['test']['mae']:.2f} (E_[27,51] {c['test']['mae_27_51']:.2f})")
                    if best is None or c["cv"]["mae"] < best[0]["cv"]["mae"]:
                        best = (c, fit)
    print(f"baselines cv: constant {results['baselines']['constant_cv']['mae']:.2f}, prior "
          f"{results['baselines']['prior_cv']['mae']:.2f}")
    for s in ("val", "test"):
        print(f"baselines {s}: constant {results['baselines'][f'constant_{s}']['mae']:.2f}, prior "
              f"{results['baselines'][f'prior_{s}']['mae']:.2f}")
    pick, fit = best
    t = pick["test"]
    beats = (t["mae"] < results["baselines"]["prior_test"]["mae"]
             and t["mae"] < results["baselines"]["constant_test"]["mae"])
    results["pick"] = {k: pick[k] for k in PICK_KEYS} | {"test": t, "beats_baselines_on_test": beats}
    print(f"pick (lowest cv MAE): {pick['data']} {pick['inputs']} {pick['fit']} lr {pick['lr']} wd "
          f"{pick['weight_decay']} lam {pick['lam']} {pick['decode']}: test MAE {t['mae']:.2f} "
          f"(E_[27,51] {t['mae_27_51']:.2f}); {'beats' if beats else 'does NOT beat'} the prior "
          f"({results['baselines']['prior_test']['mae']:.2f}) and the constant "
          f"({results['baselines']['constant_test']['mae']:.2f}) on the test split")
    if a.json:
        write_text_atomic(a.json, json.dumps(results, indent=1, default=float) + "\n")
    if a.ship:
        if not beats:
            print(f"not written: {a.ship} (the pick does not beat the baselines on held-out photos)")
            return 1
        ship(a.ship, model, mconf, ref, pick, fit, ds, names, median, argv)
        print(f"written: {a.ship} ({a.ship.stat().st_size} bytes)")
    return 0


def _plain(obj):
    """Plain JSON values (what torch.load(weights_only=True) reads back)."""
    return json.loads(json.dumps(obj, default=float))


def ship(path: Path, model, mconf, ref, pick: dict, fit, ds, names, median: float, argv) -> None:
    import dataclasses

    import torch

    from vcm.jrd.data import data_fingerprint
    from vcm.jrd.dtjrd import save_predictor
    from vcm.jrd.model import DTJRDNet
    from vcm.jrd.prior import load_prior

    inputs = () if pick["inputs"] == "features" else INPUT_NAMES
    conf = dataclasses.replace(mconf, inputs=tuple(inputs), feature_inputs=pick["inputs"] != "inputs",
                               decode=pick["decode"])
    net = DTJRDNet(model.backbone, conf.num_classes, inputs=len(inputs), features=conf.feature_inputs)
    with torch.no_grad():
        net.head.weight.copy_(fit.state["weight"])
        net.head.bias.copy_(fit.state["bias"])
    cmd = " ".join(["python", "tools/pick_dtjrd.py", *(argv if argv is not None else sys.argv[1:])])
    save_predictor(path, net, conf, variant="head", trained=["head.weight", "head.bias"], backbone=ref,
                   epoch=pick["epoch"], val_metrics=_plain(pick["val"]), test_metrics=_plain(pick["test"]),
                   train_metrics=_plain(pick["train"]),
                   train_median=median, data_fingerprint=data_fingerprint(ds, names["train"] + names["val"]),
                   label_meta=json.loads(json.dumps(ds.meta, default=str)), command=cmd,
                   pick={k: pick[k] for k in PICK_KEYS},
                   warnings=[], **({"prior_sha256": load_prior()["sha256"]} if "prior" in inputs else {}))


if __name__ == "__main__":
    sys.exit(main())
