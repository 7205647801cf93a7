"""The weight-free predictors: `prior` (OW-JRD size table, fitted with cross-validation) and `fixed:Q`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vcm.errors import VcmError
from vcm.jrd import create_predictor
from vcm.jrd.prior import load_prior, prior_jrd
from vcm.types import Detection, Detections

OWJRD = Path(__file__).resolve().parents[2] / "shared" / "owjrd" / "GTJRD_img_objects.json"


def dets(*boxes, label="person"):
    return Detections(640, 480, tuple(Detection(b, 0, label, 0.8) for b in boxes))


def test_bundled_table_documents_its_fit():
    t = load_prior()
    fit = t["fit"]
    assert fit["objects"] == 2940 and fit["images"] == 847
    # honest numbers: cross-validated by image, and better than the constant-41 baseline (7.50)
    assert fit["cv_mae_chosen"] < fit["constant_41_mae"] == pytest.approx(7.499, abs=1e-3)
    assert "class" in t["note"]
    assert all(0 <= v <= 63 for row in t["table"] for v in row)


@pytest.mark.skipif(not OWJRD.exists(), reason="OW-JRD labels not next to the repository")
def test_fit_prior_reproduces_bundled_table(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_prior", Path(__file__).parents[1] / "tools/fit_prior.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    main = mod.main
    out = tmp_path / "prior.json"
    assert main([str(OWJRD), "-o", str(out)]) == 0
    new, old = json.loads(out.read_text()), load_prior()
    assert new["table"] == old["table"] and new["log2_area_edges"] == old["log2_area_edges"]
    assert new["fit"]["cv_mae"] == old["fit"]["cv_mae"]


def test_prior_predicts_table_cells_and_ignores_class_names():
    pic = np.zeros((480, 640, 3), np.uint8)
    boxes = [(0, 0, 10, 10), (0, 0, 40, 100), (0, 0, 300, 200), (10, 10, 640, 480)]
    p = create_predictor("prior")
    a = p.predict(pic, dets(*boxes))
    b = p.predict(pic, dets(*boxes, label="some-other-detector-class"))
    assert [o.jrd for o in a] == [o.jrd for o in b]
    t = load_prior()
    for o in a:
        assert o.jrd == prior_jrd(t, o.detection)[0] and o.source == "prior"
    # the biggest box gets a JRD at least as high as the smallest (larger objects survive coarser QPs)
    assert a[-1].jrd >= a[0].jrd
    assert p.describe()["table_sha256"]


def test_fixed_predictor_and_bad_specs():
    pic = np.zeros((480, 640, 3), np.uint8)
    out = create_predictor("fixed:37").predict(pic, dets((1, 1, 50, 50), (5, 5, 9, 9)))
    assert [o.jrd for o in out] == [37, 37]
    assert create_predictor("prior").predict(pic, dets()) == []
    for spec in ("fixed", "fixed:abc", "fixed:64", "fixed:-1", "nosuch"):
        with pytest.raises(VcmError):
            create_predictor(spec)


def _fit_prior_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_prior", Path(__file__).parents[1] / "tools/fit_prior.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_vcm_labels(root: Path, seed: int = 0) -> None:
    """A `vcm label` dataset layout (labels.csv + <split>_names.json + meta.json) whose JRD rises with the
    detection score (as nanodet's own labels do: a weak box is lost at the first blur), with noise, split by
    picture; a composed group whose labels follow another law (to be left out by default)."""
    import csv

    rng = np.random.default_rng(seed)
    rows, names = [], {"train": [], "val": [], "test": []}
    for p in range(150):
        split = "test" if p % 5 == 0 else "val" if p % 5 == 1 else "train"
        group = "composed-000" if p % 7 == 6 and split == "train" else split
        for k in range(3):
            score = float(rng.uniform(0.3, 0.95))
            w, h = (float(v) for v in rng.uniform(20, 300, size=2))
            jrd = 2 if group.startswith("composed") else int(np.clip(round(20 + 40 * score + rng.normal(0, 2)), 0, 63))
            name = f"{group}_p{p}_{k}"
            rows.append({"picture": f"p{p}.png", "name": name, "group": group, "width": 640, "height": 480,
                         "x1": 10, "y1": 10, "x2": 10 + w, "y2": 10 + h, "class_id": 0, "class": "person",
                         "score": score, "jrd": jrd, "status": "labelled"})
            names[split].append(name)
    root.mkdir(parents=True)
    with (root / "labels.csv").open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    for split, ns in names.items():
        (root / f"{split}_names.json").write_text(json.dumps({"names": ns}))
    (root / "meta.json").write_text(json.dumps({"detector": {"detector": "nanodet"}, "rule": {"iou": 0.75}}))


def test_fit_prior_on_a_vcm_dataset_finds_the_score_law_and_reports_held_out_error(tmp_path):
    """tools/fit_prior.py DATASET: the detector's own labels, fitted on train+val by score (the law the labels
    follow here), natural pictures only, the test split reported; the table then predicts by score."""
    ds = tmp_path / "ds"
    _write_vcm_labels(ds)
    out = tmp_path / "jrd_prior_nanodet.json"
    assert _fit_prior_module().main([str(ds), "-o", str(out), "--min-score", "0.3"]) == 0
    t = json.loads(out.read_text())
    assert "score" in t["model"] and t["group"] == "score" and t["detector"] == "nanodet"
    fit = t["fit"]
    assert fit["cv_mae_chosen"] < fit["constant_mae"] and fit["test_mae"]["chosen"] < 5 < fit["constant_mae"]
    assert "natural photos only" in fit["labels"]  # the composed group (JRD 2) was left out
    assert min(min(row) for row in t["table"]) > 20
    p = create_predictor(f"prior:{out}")
    pic = np.zeros((480, 640, 3), np.uint8)
    weak, strong = (Detections(640, 480, (Detection((10, 10, 100, 100), 0, "person", s),)) for s in (0.35, 0.9))
    assert p.predict(pic, weak)[0].jrd < p.predict(pic, strong)[0].jrd
    assert p.describe()["table"] == str(out)
