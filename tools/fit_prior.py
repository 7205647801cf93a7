"""Fit the weight-free JRD prior tables, with honest cross-validation.

Two label sources:
- the OW-JRD labels (`GTJRD_img_objects.json`, the OW-JRD test split: 847 images, 2,940 objects; the only file
  with boxes): no classes and no detector scores, so the table is by box size (and optionally shape or object
  count). It ships as `vcm/data/jrd_prior.json`, the prior of any detector.
- a dataset `vcm label` built (a folder with labels.csv and train/val/test_names.json, e.g. the one
  tools/build_jrd_dataset.py finalizes): the detector's own JRDs on the pictures it was measured on, with the
  detection score, which tells more about how much coding a detection survives than its size (a box found at 0.35
  is lost at the first blur; one at 0.9 survives far coarser). Fitted on its train and val splits, reported on
  its test split (beside the constant and the OW-JRD table); use it with `--jrd prior:TABLE.json`.

The estimator is the median JRD per cell (it minimises the absolute error the paper reports). Candidate tables
are compared by 10-fold cross-validation that splits by image (objects of one picture never sit on both sides);
the smallest table within 0.02 of the best is refitted on all fitting labels and written with its numbers.

    python tools/fit_prior.py ../shared/owjrd/GTJRD_img_objects.json -o vcm/data/jrd_prior.json
    python tools/fit_prior.py ~/.cache/vcm/jrd-dataset/ds -o prior_nanodet.json   # then --jrd prior:prior_nanodet.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vcm.fsutil import write_json_atomic

BASELINE_CONSTANT = 41  # the OW-JRD README's constant predictor: MAE 7.50 on the test split
MIN_PER_BIN = 40  # bins with fewer labels are merged into their neighbour (OW-JRD)
MIN_PER_BIN_VCM = 24  # the same for a vcm-labelled dataset (hundreds of labels, not thousands)
SCORE_EDGES = (0.4, 0.5, 0.6, 0.7, 0.8)  # detection-score bins before merging
FIT_SPLITS = ("train", "val")  # a vcm dataset's splits the table is fitted on; its test split only reports


def load_objects(path: Path) -> dict[str, np.ndarray]:
    """One row per object: image index, box area (px), aspect h/w, objects in its image, label."""
    data = json.loads(Path(path).read_text())
    img, area, aspect, count, jrd = [], [], [], [], []
    for i, (_, v) in enumerate(sorted(data.items())):
        for box, j in zip(v["bboxs"], v["OWJRD"]):
            w, h = max(1.0, box[2] - box[0]), max(1.0, box[3] - box[1])
            img.append(i), area.append(w * h), aspect.append(h / w), count.append(len(v["bboxs"])), jrd.append(j)
    return {"img": np.array(img), "area": np.array(area), "aspect": np.array(aspect),
            "count": np.array(count), "jrd": np.array(jrd, dtype=float)}


def load_vcm_labels(ds: Path, splits: tuple[str, ...], min_score: float = 0.0,
                    composed: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """The same rows from a `vcm label` dataset (labels.csv + <split>_names.json), with the detection score, for
    the objects scoring >= min_score, of natural pictures only unless `composed` (groups `composed-*`:
    cut-outs pasted on photos, tools/build_jrd_dataset.py); and the dataset's meta.json (what the labels mean)."""
    import csv

    names = set()
    for sp in splits:
        names |= set(json.loads((ds / f"{sp}_names.json").read_text())["names"])
    recs = [r for r in csv.DictReader((ds / "labels.csv").open())
            if r["name"] in names and r["jrd"] != "" and float(r["score"]) >= min_score
            and (composed or not r.get("group", "").startswith("composed"))]
    pics = sorted({(r["group"], r["picture"]) for r in recs})
    index = {p: i for i, p in enumerate(pics)}
    count = {p: sum(1 for r in recs if (r["group"], r["picture"]) == p) for p in pics}
    rows: dict[str, list] = {k: [] for k in ("img", "area", "aspect", "count", "score", "jrd")}
    for r in recs:
        p = (r["group"], r["picture"])
        w = max(1.0, float(r["x2"]) - float(r["x1"]))
        h = max(1.0, float(r["y2"]) - float(r["y1"]))
        for k, v in (("img", index[p]), ("area", w * h), ("aspect", h / w), ("count", count[p]),
                     ("score", float(r["score"])), ("jrd", float(r["jrd"]))):
            rows[k].append(v)
    meta = json.loads((ds / "meta.json").read_text()) if (ds / "meta.json").exists() else {}
    return {k: np.array(v, dtype=float if k in ("area", "aspect", "score", "jrd") else int) for k, v in rows.items()}, meta


def area_edges(log_area: np.ndarray, step: float, min_per_bin: int | None = None) -> list[float]:
    """Bin edges in log2(area) every `step`, merging sparse bins so each holds >= MIN_PER_BIN labels."""
    lo, hi = np.floor(log_area.min()), np.ceil(log_area.max())
    return merge_sparse(list(np.arange(lo + step, hi, step)), log_area, min_per_bin or MIN_PER_BIN)


def merge_sparse(edges: list[float], values: np.ndarray, min_per_bin: int) -> list[float]:
    """Drop edges until every bin of `values` holds >= min_per_bin (a sparse bin joins its right neighbour)."""
    edges = list(edges)
    changed = True
    while changed and edges:
        changed = False
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        k = int(np.argmin(counts))
        if counts[k] < min_per_bin:
            edges.pop(min(k, len(edges) - 1))  # merge bin k with its right (or, for the last, left) neighbour
            changed = True
    return [float(e) for e in edges]


def group_keys(rows: dict[str, np.ndarray], group: str | None, score_edges: list[float] | None = None) -> np.ndarray:
    if group is None:
        return np.zeros(len(rows["jrd"]), dtype=int)
    if group == "aspect":  # tall (h > 1.5 w) vs the rest
        return (rows["aspect"] > 1.5).astype(int)
    if group == "count":  # 1, 2-4, 5+ objects in the picture
        return np.searchsorted([2, 5], rows["count"], side="right")
    if group == "score":  # detection-score bins (vcm-labelled datasets only)
        return np.searchsorted(score_edges, rows["score"], side="right")
    raise ValueError(group)


def fit_table(rows: dict[str, np.ndarray], step: float | None, group: str | None,
              min_per_bin: int | None = None) -> dict:
    min_per_bin = min_per_bin or MIN_PER_BIN
    la = np.log2(rows["area"])
    edges = area_edges(la, step, min_per_bin) if step else []
    score_edges = merge_sparse(list(SCORE_EDGES), rows["score"], min_per_bin) if group == "score" else None
    keys = group_keys(rows, group, score_edges)
    bins = np.searchsorted(edges, la, side="right")
    overall = float(np.median(rows["jrd"]))
    table = []
    for g in range(len(score_edges) + 1 if score_edges is not None else int(keys.max()) + 1):
        row = []
        for b in range(len(edges) + 1):
            sel = (keys == g) & (bins == b)
            if sel.sum() >= min_per_bin // 2:
                row.append(float(np.median(rows["jrd"][sel])))
            elif group == "score" and (keys == g).any():  # too few: the score bin over all sizes
                row.append(float(np.median(rows["jrd"][keys == g])))
            else:  # too few: fall back to the size bin over all groups, then the overall median
                sel = bins == b
                row.append(float(np.median(rows["jrd"][sel])) if sel.any() else overall)
        table.append(row)
    out = {"log2_area_edges": edges, "group": group, "table": table, "overall": overall}
    if score_edges is not None:
        out["score_edges"] = [float(e) for e in score_edges]
    return out


def predict_table(model: dict, rows: dict[str, np.ndarray]) -> np.ndarray:
    bins = np.searchsorted(model["log2_area_edges"], np.log2(rows["area"]), side="right")
    keys = group_keys(rows, model["group"], model.get("score_edges"))
    return np.array([model["table"][g][b] for g, b in zip(keys, bins)])


def subset(rows: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in rows.items()}


def cross_validate(rows: dict[str, np.ndarray], step, group, folds: int, seed: int,
                   min_per_bin: int | None = None) -> float:
    """Mean absolute error over `folds` image-level folds (predictions rounded to integer QPs)."""
    images = np.unique(rows["img"])
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(images), np.arange(len(images)) % folds))
    f = np.array([fold_of[i] for i in rows["img"]])
    err = np.empty(len(rows["jrd"]))
    for k in range(folds):
        model = fit_table(subset(rows, f != k), step, group, min_per_bin)
        err[f == k] = np.abs(np.round(predict_table(model, subset(rows, f == k))) - rows["jrd"][f == k])
    return float(err.mean())


CANDIDATES = {  # name -> (log2 area step or None, grouping)
    "constant median": (None, None),
    "area, 1-octave bins": (1.0, None),
    "area, 2-octave bins": (2.0, None),
    "area, half-octave bins": (0.5, None),
    "area x tall/other": (1.0, "aspect"),
    "area x objects per picture": (1.0, "count"),
}
SCORE_CANDIDATES = {  # only where the labels carry the detector's score (a vcm-labelled dataset)
    "detection score": (None, "score"),
    "area (2-octave bins) x score": (2.0, "score"),
    "area (1-octave bins) x score": (1.0, "score"),
}


def choose(rows: dict[str, np.ndarray], candidates: dict, folds: int, seed: int, min_per_bin: int):
    """CV MAE of every candidate and the chosen one: the smallest table within 0.02 of the best (simpler tables
    win a tie)."""
    cv = {name: round(cross_validate(rows, s, g, folds, seed, min_per_bin), 3) for name, (s, g) in candidates.items()}
    for name, mae in cv.items():
        print(f"{name:30s} CV MAE {mae:.3f}")
    best_mae = min(cv.values())

    def size(n):
        t = fit_table(rows, *candidates[n], min_per_bin)
        return len(t["table"]) * len(t["table"][0])

    chosen = min((n for n in cv if cv[n] <= best_mae + 0.02), key=lambda n: (size(n), cv[n]))
    return cv, chosen


def fit_vcm(ds: Path, out: Path, folds: int, seed: int, min_score: float, composed: bool = False) -> int:
    """The per-detector table from a vcm-labelled dataset: fitted on train+val, reported on test, on the objects
    the prior is asked about (`vcm encode` predicts JRDs for the objects it keeps: score >= the keep score)."""
    rows, meta = load_vcm_labels(ds, FIT_SPLITS, min_score, composed)
    test, _ = load_vcm_labels(ds, ("test",), min_score)
    if len(rows["jrd"]) < 2 * MIN_PER_BIN_VCM:
        sys.exit(f"{ds}: only {len(rows['jrd'])} labels in {'+'.join(FIT_SPLITS)}; label more pictures first")
    cv, chosen = choose(rows, {**CANDIDATES, **SCORE_CANDIDATES}, folds, seed, MIN_PER_BIN_VCM)
    model = fit_table(rows, *{**CANDIDATES, **SCORE_CANDIDATES}[chosen], MIN_PER_BIN_VCM)
    model["table"] = [[int(round(v)) for v in row] for row in model["table"]]
    const = float(np.median(rows["jrd"]))

    def mae(pred, r):
        return round(float(np.abs(np.round(pred) - r["jrd"]).mean()), 3) if len(r["jrd"]) else None

    owjrd = json.loads((Path(__file__).resolve().parents[1] / "vcm/data/jrd_prior.json").read_text())
    test_mae = {"chosen": mae(predict_table(model, test), test),
                f"constant {const:g} (median of the fitting labels)": mae(np.full(len(test["jrd"]), const), test),
                "the OW-JRD size table (vcm/data/jrd_prior.json)": mae(predict_table(owjrd, test), test)}
    det = meta.get("detector", {})
    doc = {
        "format": "vcm-jrd-prior/1",
        "model": chosen,
        "detector": det.get("detector"),
        **model,
        "how_to_read": "bin = number of log2_area_edges <= log2(box width * height in pixels); group = number of "
                       "score_edges <= the detection's score when 'group' is 'score' (else 0); jrd = table[group][bin]",
        "fit": {
            "labels": f"vcm label dataset {ds.name}: splits {'+'.join(FIT_SPLITS)} (test held out), objects "
                      f"scoring >= {min_score:g} (the keep score: the objects vcm asks the prior about)"
                      + ("" if composed else ", natural photos only"),
            "objects": int(len(rows["jrd"])), "images": int(len(np.unique(rows["img"]))),
            "test_objects": int(len(test["jrd"])), "test_images": int(len(np.unique(test["img"]))),
            "detector": det, "rule": meta.get("rule"), "encoder": meta.get("encoder"),
            "estimator": "median JRD per cell; bins with < %d labels merged" % MIN_PER_BIN_VCM,
            "cv": f"{folds}-fold, split by image, seed {seed}, predictions rounded",
            "cv_mae": cv, "cv_mae_chosen": cv[chosen],
            "constant_mae": round(float(np.abs(const - rows["jrd"]).mean()), 3),
            "test_mae": test_mae,
            "refit": "the chosen table refitted on all fitting labels",
            "command": f"python tools/fit_prior.py <dataset> -o {out.name}",
        },
        "note": "JRDs are this detector's own, measured by `vcm label` with vcm's encoder and still-detected rule "
                "(tools/build_jrd_dataset.py); use the table with `--jrd prior:FILE` and the same detector.",
    }
    write_json_atomic(out, doc, indent=1)
    print(f"chosen: {chosen} (CV MAE {cv[chosen]:.3f}); test MAE {test_mae} -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels", type=Path, help="GTJRD_img_objects.json of the OW-JRD dataset, or a vcm label "
                    "dataset folder (labels.csv, train/val/test_names.json)")
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "vcm/data/jrd_prior.json")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--min-score", type=float, default=None,
                    help="a vcm dataset: fit on objects scoring >= this (default: vcm's keep score)")
    ap.add_argument("--with-composed", action="store_true",
                    help="a vcm dataset: fit on its composed pictures too (pasted cut-outs; default: photos only)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.labels.is_dir():
        from vcm.metrics.match import KEEP_SCORE

        return fit_vcm(args.labels, args.out, args.folds, args.seed,
                       KEEP_SCORE if args.min_score is None else args.min_score, args.with_composed)

    rows = load_objects(args.labels)
    const_mae = float(np.abs(BASELINE_CONSTANT - rows["jrd"]).mean())
    cv, chosen = choose(rows, CANDIDATES, args.folds, args.seed, MIN_PER_BIN)
    print(f"{'constant 41 (no CV)':30s}    MAE {const_mae:.3f}")
    model = fit_table(rows, *CANDIDATES[chosen])
    model["table"] = [[int(round(v)) for v in row] for row in model["table"]]
    in_sample = float(np.abs(np.round(predict_table(model, rows)) - rows["jrd"]).mean())
    doc = {
        "format": "vcm-jrd-prior/1",
        "model": chosen,
        **model,
        "how_to_read": "bin = number of log2_area_edges <= log2(box width * height in pixels); jrd = table[group][bin]; "
                       "group 0 only unless 'group' is set ('aspect': 1 = height > 1.5 width; "
                       "'count': 0 = 1 object, 1 = 2-4, 2 = 5+ objects in the picture)",
        "fit": {
            "labels": "OW-JRD GTJRD_img_objects.json (test split, the only file with boxes)",
            "objects": int(len(rows["jrd"])), "images": int(len(np.unique(rows["img"]))),
            "estimator": "median JRD per cell (minimises absolute error); bins with < %d labels merged" % MIN_PER_BIN,
            "cv": f"{args.folds}-fold, split by image, seed {args.seed}, predictions rounded",
            "cv_mae": cv,
            "cv_mae_chosen": cv[chosen],
            "constant_41_mae": round(const_mae, 3),
            "in_sample_mae_chosen": round(in_sample, 3),
            "refit": "the chosen table refitted on all labels",
            "command": "python tools/fit_prior.py <owjrd>/GTJRD_img_objects.json -o vcm/data/jrd_prior.json",
        },
        "note": "No OW-JRD file has object classes, so the prior is by size only and ignores class names (it works "
                "with any detector). Areas are in pixels of COCO pictures (about 640x480); JRDs were labelled with "
                "the DT-JRD authors' detector and VVC settings, not with vcm's detector and encoder.",
    }
    write_json_atomic(args.out, doc, indent=1)
    print(f"chosen: {chosen} (CV MAE {cv[chosen]:.3f} vs constant 41: {const_mae:.3f}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
