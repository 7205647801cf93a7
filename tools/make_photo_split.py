"""Regenerate vcm/data/photos_split.json: the one split of the fetched photos into benchmark, train and val.

Deterministic: the catalogue (vcm.photos) in id order, vcm's own nanodet at its default settings on each picture
as the benchmark sees it (photos downscaled to 1024 px; cut-outs over mid grey), scenes by name (vcm.photos.
scene_of) merged with near-duplicate shots (64-bit difference hashes within DHASH_BITS bits), scene order by
sha1 of the scene key. Rules:
- cut-outs only ever in `train` (they are pasted onto training backgrounds, never benchmarked);
- a scene lies on one side only; `benchmark` takes whole scenes, and only its pictures holding >= 1 object at
  the keep score are benchmarked (the scene's other pictures are `unused`, never trained on);
- benchmark scenes are taken round-robin over strata (class x size of the picture's best object), alternating
  benchmark/train within a stratum, until >= MIN_PICTURES pictures and >= MIN_OBJECTS objects at the keep score;
- the remaining photo scenes go to `train`, one in VAL_EVERY (by scene hash) to `val`.
The nanodet counts (boxes >= its 0.3 threshold, objects >= the keep score, their classes) are recorded per picture.

    python tools/make_photo_split.py            # writes vcm/data/photos_split.json
    python tools/make_photo_split.py --check    # recomputes and fails if the shipped file differs
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

MIN_PICTURES, MIN_OBJECTS = 62, 105  # issue 21 asks >= 60 and >= 100: a small margin
DHASH_BITS = 6
VAL_EVERY = 5
OUT = Path(__file__).resolve().parent.parent / "vcm" / "data" / "photos_split.json"


def _h(s: str) -> int:
    return int(hashlib.sha1(s.encode()).hexdigest()[:12], 16)


def size_class(area: float) -> str:
    """COCO's size classes."""
    return "small" if area < 32 ** 2 else "medium" if area < 96 ** 2 else "large"


def count(photos, log=print) -> dict[str, dict]:
    """nanodet on every picture: {id: {boxes, objects, classes, sizes, width, height}}."""
    import numpy as np

    from vcm.detect import create_detector
    from vcm.metrics.match import KEEP_SCORE
    from vcm.photos import decode

    det = create_detector("nanodet")
    out = {}
    for i, p in enumerate(photos):
        arr = decode(p)
        if arr.shape[2] == 4:  # a cut-out: over mid grey
            a = arr[..., 3:4].astype(np.float32) / 255.0
            arr = (arr[..., :3] * a + 128.0 * (1 - a) + 0.5).astype(np.uint8)
        p.path()  # the cached PNG the benchmark reads
        dets = list(det.detect([arr])[0])
        keep = [d for d in dets if d.score >= KEEP_SCORE]
        out[p.id] = {"boxes": len(dets), "objects": len(keep), "classes": sorted(Counter(d.label for d in keep).items()),
                     "sizes": sorted(Counter(size_class(d.area) for d in keep).items()),
                     "best": [keep[0].label, size_class(keep[0].area)] if keep else None,
                     "width": int(arr.shape[1]), "height": int(arr.shape[0])}
        if log and (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(photos)} pictures detected")
    return out


def scenes(photos, cache_dir=None) -> dict[str, str]:
    """id -> scene: the name rule, merged by near-duplicate difference hashes (union-find)."""
    from vcm.photos import dhash, scene_of

    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for p in photos:
        union(p.id, "scene:" + scene_of(p))
    natural = [p for p in photos if p.kind == "photo"]
    hashes = {p.id: dhash(p, cache_dir) for p in natural}
    for i, a in enumerate(natural):
        for b in natural[i + 1:]:
            if bin(hashes[a.id] ^ hashes[b.id]).count("1") <= DHASH_BITS:
                union(a.id, b.id)
    # the scene's name: its smallest "scene:..." member
    members = defaultdict(list)
    for x in list(parent):
        members[find(x)].append(x)
    name = {root: min(m for m in ms if m.startswith("scene:"))[6:] for root, ms in members.items()}
    return {p.id: name[find(p.id)] for p in photos}


def make_split(photos, counts, scene) -> dict[str, str]:
    """id -> benchmark | train | val | unused, by the rules in the module docstring."""
    by_scene = defaultdict(list)
    for p in photos:
        by_scene[scene[p.id]].append(p)
    part: dict[str, str] = {}
    strata = defaultdict(list)
    for s, ps in by_scene.items():
        if any(p.kind == "cutout" for p in ps):
            continue
        kept = [p for p in ps if counts[p.id]["objects"]]
        if kept:
            best = max(kept, key=lambda p: (counts[p.id]["objects"], p.id))
            strata[tuple(counts[best.id]["best"])].append(s)
    for k in strata:
        strata[k].sort(key=lambda s: (_h(s), s))
    eligible = [[s for i, s in enumerate(v) if i % 2 == 0] for _, v in sorted(strata.items())]
    spare = [[s for i, s in enumerate(v) if i % 2 == 1] for _, v in sorted(strata.items())]
    bench_scenes: list[str] = []
    n_pics = n_obj = 0
    for queues in (eligible, spare):
        while (n_pics < MIN_PICTURES or n_obj < MIN_OBJECTS) and any(queues):
            for q in queues:
                if q and (n_pics < MIN_PICTURES or n_obj < MIN_OBJECTS):
                    s = q.pop(0)
                    bench_scenes.append(s)
                    kept = [p for p in by_scene[s] if counts[p.id]["objects"]]
                    n_pics += len(kept)
                    n_obj += sum(counts[p.id]["objects"] for p in kept)
    bench = set(bench_scenes)
    for s, ps in by_scene.items():
        for p in ps:
            if s in bench:
                part[p.id] = "benchmark" if counts[p.id]["objects"] and p.kind == "photo" else "unused"
            elif p.kind == "cutout":
                part[p.id] = "train"
            else:
                part[p.id] = "val" if _h("val:" + s) % VAL_EVERY == 0 else "train"
    return part


def build(log=print) -> dict:
    from vcm.datasets import DATA_SETS
    from vcm.detect import create_detector
    from vcm.metrics.match import KEEP_SCORE
    from vcm.photos import MAX_SIDE, catalogue

    photos = catalogue()
    log(f"{len(photos)} catalogue pictures; detecting with nanodet ...")
    counts = count(photos, log)
    scene = scenes(photos)
    part = make_split(photos, counts, scene)
    pictures = {p.id: {"split": part[p.id], "kind": p.kind, "scene": scene[p.id], **counts[p.id]} for p in photos}
    summary = {}
    for s in ("benchmark", "train", "val", "unused"):
        recs = [r for r in pictures.values() if r["split"] == s]
        cls = Counter()
        for r in recs:
            cls.update(dict(r["classes"]))
        summary[s] = {"pictures": len(recs), "photos": sum(r["kind"] == "photo" for r in recs),
                      "cutouts": sum(r["kind"] == "cutout" for r in recs),
                      "scenes": len({r["scene"] for r in recs}),
                      "boxes": sum(r["boxes"] for r in recs), "objects": sum(r["objects"] for r in recs),
                      "classes": dict(sorted(cls.items(), key=lambda kv: (-kv[1], kv[0])))}
    return {"about": "One split of the fetched photos (vcm weights fetch photos) for `vcm benchmark --bundled photos` "
                     "and DT-JRD training; written by tools/make_photo_split.py. Benchmark pictures are never "
                     "trained on; cut-outs only ever in train; a scene lies on one side only.",
            "detector": create_detector("nanodet").describe(), "keep_score": KEEP_SCORE, "max_side": MAX_SIDE,
            "data_sets": {ds.name: {"spec": ds.spec, "source": ds.source, "archive_sha256": ds.archive_sha256,
                                    "tree_sha256": ds.tree_sha256} for ds in DATA_SETS.values()},
            "summary": summary, "pictures": pictures}


def dump(split: dict) -> str:
    """The file's text: the header indented, then one line per picture (readable diffs)."""
    head = json.dumps({k: v for k, v in split.items() if k != "pictures"}, indent=1)
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in split["pictures"].items())
    return head[:-2] + ',\n "pictures": {\n' + body + "\n }\n}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="recompute and compare with the file; exit 1 if it differs")
    args = ap.parse_args(argv)
    from vcm.fsutil import write_text_atomic

    split = build(log=lambda m: print(m, file=sys.stderr))
    text = dump(split)
    for s, v in split["summary"].items():
        print(f"{s:<9} {v['pictures']:>4} pictures ({v['photos']} photos, {v['cutouts']} cut-outs, {v['scenes']} "
              f"scenes), {v['boxes']} boxes >= 0.3, {v['objects']} objects >= keep, {len(v['classes'])} classes")
    if args.check:
        old = json.loads(args.out.read_text())["pictures"] if args.out.is_file() else {}
        new = json.loads(text)["pictures"]  # as the file holds it (lists, not tuples)
        diff = sorted(set(old) ^ set(new)) + sorted(k for k in set(old) & set(new) if old[k] != new[k])
        for k in diff[:20]:
            print(f"  {k}: shipped {old.get(k)} recomputed {new.get(k)}")
        print("the shipped split is reproduced" if not diff else f"{args.out} differs from the recomputed split "
              f"in {len(diff)} pictures")
        return 0 if not diff else 1
    write_text_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
