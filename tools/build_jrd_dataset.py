"""Build the real JRD dataset DT-JRD is trained on, from the fetched photos (vcm weights fetch photos).

    python tools/build_jrd_dataset.py all WORK --until 16:30        # pictures, labels, dataset: one command
    python tools/build_jrd_dataset.py pictures WORK --composed 1200  # 1. the pictures + WORK/split.json
    python tools/build_jrd_dataset.py label WORK --until 16:30       # 2. vcm label, group by group (resumes)
    python tools/build_jrd_dataset.py finalize WORK                  # 3. WORK/ds: train / val / test
    python tools/build_jrd_dataset.py prior WORK                     # train labels for tools/fit_prior.py

The split (recorded in WORK/split.json and the dataset's meta.json), on vcm/data/photos_split.json:
- test  = the photo split's `val` part (natural photos, never trained on, never used to pick a model);
- val   = the natural photos of the `train` part whose scene hashes to 0 mod 6 (early stopping and model choice);
- train = the other natural `train` photos, plus composed pictures: the cut-outs pasted at varied sizes and
  places onto crops of those same train photos (vcm.jrd.compose, deterministic by --seed);
- the `benchmark` part is never read.
Labelling is `vcm label GROUP -o WORK/labelled/GROUP --detector nanodet --keep-score 0.3` per group (natural
groups first, then the composed pictures in chunks of CHUNK); a label is the detector's own behaviour on the
picture it was measured on. --until HH:MM (UTC) starts no new group after that time: what was labelled is kept
and a rerun goes on. The dataset keeps objects with score >= --keep-score (0.3: the detector's threshold).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vcm.fsutil import atomic_path, write_json_atomic

LABEL_KEEP = 0.3  # label every object the detector returns; the dataset may keep a subset
VAL_MOD = 6  # scenes whose sha256 is 0 mod this: inner validation
CHUNK = 40  # composed pictures per labelling group
NATURAL = ("test", "val", "train", "train-1")  # natural groups, labelled in this order; train-1: every other
# natural training photo, so two labelling processes can work on the training photos at once
RULE = ("test = photos_split 'val' part (natural, held out); val = natural 'train' photos whose scene sha256 is 0 "
        f"mod {VAL_MOD}; train = other natural 'train' photos + composed pictures (cut-outs pasted on those "
        "photos, vcm.jrd.compose); the 'benchmark' part is never read")


def _inner_val(scene: str) -> bool:
    return int(hashlib.sha256(scene.encode()).hexdigest(), 16) % VAL_MOD == 0


def _split_of(group: str) -> str:
    """train, val or test: the split a labelling group's objects go to."""
    return "train" if group.startswith(("composed", "train")) else group


def write_pictures(work: Path, composed: int, seed: int) -> dict:
    """WORK/pictures/<group>/ for every group and WORK/split.json; pictures already there are kept."""
    from vcm.jrd.compose import write_composed
    from vcm.photos import dtjrd_pictures, load_split

    split = load_split()
    recs = split["pictures"]
    parts = dtjrd_pictures(split)
    groups: dict[str, list] = {"test": list(parts["val"]), "val": [], "train": [], "train-1": []}
    for p in parts["train"]:
        groups["val" if _inner_val(recs[p.id]["scene"]) else "train"].append(p)
    groups["train"], groups["train-1"] = groups["train"][::2], groups["train"][1::2]
    train_photos = groups["train"] + groups["train-1"]
    rows = []
    for g, photos in groups.items():
        d = work / "pictures" / g
        d.mkdir(parents=True, exist_ok=True)
        for p in photos:
            if not (d / p.name).is_file():
                shutil.copyfile(p.path(), d / p.name)
            rows.append({"name": p.name, "split": _split_of(g), "group": g, "id": p.id, "scene": recs[p.id]["scene"], "source": p.source,
                         "licence": p.licence, "credit": p.credit})
    # composed: cut-outs the detector finds something on (>= its threshold), on the train group's photos
    cuts = [c for c in parts["cutouts"] if recs[c.id].get("boxes", 0) > 0]
    chunks = {}
    for start in range(0, composed, CHUNK):
        g = f"composed-{start // CHUNK:03d}"
        idx = list(range(start, min(composed, start + CHUNK)))
        chunks[g] = write_composed(work / "pictures" / g, sorted(train_photos, key=lambda p: p.id), cuts, seed, idx)
        for name, rec in chunks[g].items():
            rows.append({"name": name, "split": "train", "composed": rec, "group": g})
    info = {"rule": RULE, "seed": seed, "composed": composed, "chunk": CHUNK, "val_mod": VAL_MOD,
            "photo_split": split.get("about", ""), "cutouts": [c.id for c in cuts],
            "groups": list(NATURAL) + sorted(chunks),
            "counts": {g: len(v) for g, v in groups.items()} | {"composed": composed}, "pictures": rows}
    for g, photos in groups.items():  # a picture moved to another group by an older layout is not labelled twice
        keep = {p.name for p in photos}
        for f in (work / "pictures" / g).glob("*.png"):
            if f.name not in keep:
                f.unlink()
    write_json_atomic(work / "split.json", info, indent=1)
    return info


def _stop(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_child(cmd: list[str], env: dict[str, str]) -> None:
    """Run `cmd` to the end (checked); when this tool is stopped (Ctrl-C, `kill`), the child is stopped too: an
    orphaned `vcm label` went on labelling the group beside the rerun that resumed it."""
    import signal

    proc = subprocess.Popen(cmd, env=env)
    old = signal.signal(signal.SIGTERM, _stop)
    try:
        rc = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, old)
        if proc.poll() is None:  # stopped while the child runs: it keeps what it finished (atomic records)
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    if rc:
        raise subprocess.CalledProcessError(rc, cmd)


def label(work: Path, groups: list[str], until: str | None, workers: int) -> list[str]:
    """vcm label each group into WORK/labelled/<group> (resumable); returns the groups finished."""
    vcm = [sys.executable, "-m", "vcm"]
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0", HF_HUB_OFFLINE="1")
    deadline = None
    if until:
        hh, mm = (int(x) for x in until.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    done = []
    for g in groups:
        if deadline and dt.datetime.now(dt.timezone.utc) >= deadline:
            print(f"{until} UTC passed: {g} and later groups not labelled (a rerun goes on)", flush=True)
            break
        src = work / "pictures" / g
        if not src.is_dir():
            continue
        print(f"labelling {g} ({dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC)", flush=True)
        run_child(vcm + ["label", str(src), "-o", str(work / "labelled" / g), "--detector", "nanodet",
                         "--keep-score", str(LABEL_KEEP), "--workers", str(workers), "--quiet"], env)
        done.append(g)
    return done


FIELDS = ("picture", "name", "group", "width", "height", "x1", "y1", "x2", "y2", "class_id", "class", "score",
          "jrd", "status")


def _records(d: Path) -> list[dict]:
    """The per-picture records `vcm label` stored under d/.work (finished pictures, also of a stopped run)."""
    out = []
    for f in sorted((d / ".work").glob("*.json")):
        try:
            out.append(json.loads(f.read_text()))
        except ValueError:
            continue  # a record being written when the run stopped: not finished
    return out


def finalize(work: Path, keep_score: float, out: Path | None = None) -> Path:
    """WORK/ds: objects with score >= keep_score of every labelled picture (from `vcm label`'s per-picture records,
    so a group stopped half-way gives its finished pictures), split by group; crops copied."""
    info = json.loads((work / "split.json").read_text())
    out = out or work / "ds"
    labels, names, rows, src = {}, {"train": [], "val": [], "test": []}, [], {}
    used, meta0 = {}, None
    for g in info["groups"]:
        d = work / "labelled" / g
        recs = _records(d)
        if not recs:
            continue
        used[g] = len(recs)
        if meta0 is None and (d / "meta.json").is_file():
            meta0 = json.loads((d / "meta.json").read_text())
        split = _split_of(g)
        for rec in recs:
            for o in rec["objects"]:
                if o.get("jrd") is None or float(o["score"]) < keep_score:
                    continue
                if not (d / "crops" / o["name"] / f"{o['name']}.png").is_file():
                    continue
                x1, y1, x2, y2 = o["box"]
                rows.append({"picture": rec["picture"], "name": o["name"], "group": g, "width": rec["width"],
                             "height": rec["height"], "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                             "class_id": o["class_id"], "class": o["label"], "score": o["score"], "jrd": o["jrd"],
                             "status": o["status"]})
                labels[o["name"]] = int(o["jrd"])
                names[split].append(o["name"])
                src[o["name"]] = d
    if not labels:
        raise SystemExit(f"nothing labelled under {work / 'labelled'}: run the label step first")
    if out.exists():
        shutil.rmtree(out)
    (out / "crops").mkdir(parents=True)
    for n in sorted(labels):
        shutil.copytree(src[n] / "crops" / n, out / "crops" / n)
    write_json_atomic(out / "JRD_info.json", {n: labels[n] for n in sorted(labels)}, indent=1)
    for s, v in names.items():
        write_json_atomic(out / f"{s}_names.json", {"names": sorted(v)}, indent=None)
    with atomic_path(out / "labels.csv") as tmp, tmp.open("w") as f_out:
        wr = csv.DictWriter(f_out, fieldnames=FIELDS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
    natural = sum(1 for r in rows if not r["group"].startswith("composed"))
    meta = {k: v for k, v in (meta0 or {}).items() if k not in ("counts", "split_pictures", "pictures_dir", "seed",
                                                                  "split_fractions", "created")}
    meta["rule"] = dict(meta.get("rule") or {}, keep_score=keep_score)
    meta["split_rule"] = info["rule"]
    meta["pictures_labelled"] = used
    meta["counts"] = {"crops": len(labels), "natural": natural, "composed": len(labels) - natural,
                      "splits": {s: len(v) for s, v in names.items()}}
    meta["command"] = " ".join(["python", "tools/build_jrd_dataset.py", "finalize", str(work),
                                "--keep-score", str(keep_score)])
    write_json_atomic(out / "meta.json", meta, indent=1)
    return out


def prior_labels(ds: Path, out: Path, split: str = "train") -> Path:
    """The split's labels in OW-JRD's GTJRD_img_objects.json layout, for tools/fit_prior.py."""
    names = set(json.loads((ds / f"{split}_names.json").read_text())["names"])
    doc: dict[str, dict] = {}
    for r in csv.DictReader((ds / "labels.csv").open()):
        if r["name"] in names:
            d = doc.setdefault(r["group"] + "/" + r["picture"], {"bboxs": [], "OWJRD": [],
                                                                 "size": [int(r["width"]), int(r["height"])]})
            d["bboxs"].append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
            d["OWJRD"].append(int(r["jrd"]))
    write_json_atomic(out, doc, indent=1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=("pictures", "label", "finalize", "prior", "all"))
    ap.add_argument("work", type=Path)
    ap.add_argument("--composed", type=int, default=1200, help="composed pictures to write (labelled as time allows)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the composed pictures")
    ap.add_argument("--groups", default="all", help="label: 'natural', 'composed', 'all' or a comma list of groups")
    ap.add_argument("--until", default=None, help="label: start no new group after HH:MM UTC")
    ap.add_argument("--workers", type=int, default=1, help="label: vcm label --workers")
    ap.add_argument("--keep-score", type=float, default=LABEL_KEEP, help="finalize: objects kept in the dataset")
    a = ap.parse_args(argv)
    if a.step in ("pictures", "all"):
        info = write_pictures(a.work, a.composed, a.seed)
        print("pictures:", info["counts"])
    if a.step in ("label", "all"):
        info = json.loads((a.work / "split.json").read_text())
        allg = info["groups"]
        groups = {"all": allg, "natural": list(NATURAL),
                  "composed": [g for g in allg if g.startswith("composed")]}.get(a.groups) or a.groups.split(",")
        label(a.work, groups, a.until, a.workers)
    if a.step == "prior":
        ds = a.work / "ds"
        print(prior_labels(ds, ds / "prior_train.json"))
    if a.step in ("finalize", "all"):
        ds = finalize(a.work, a.keep_score)
        print("dataset:", ds, json.loads((ds / "meta.json").read_text())["counts"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
