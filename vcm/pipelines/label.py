"""Build an OW-JRD-style crop dataset from a folder of pictures and any detector (`vcm label`).

For each picture: detect objects on the original (or take its COCO boxes with --gt) and give each object to keep
its JRD with the `search` predictor (`vcm.jrd.search`, the settings of `vcm encode`): the picture coded as
objects mode codes it, every object crop at each QP asked for over the background, detected once per QP, each
object judged by the shared still-detected rule and labelled by the corrected rule of `vcm.labeling` (full
sweep or the exact smart search), then checked through the plan choice. `vcm predict --jrd search` and
`vcm encode --jrd search` run the same predictor with the same settings: one JRD per object. Writes
    DATASET/crops/<name>/<name>.png      the object's box cut from the ORIGINAL picture (name = <picture>_<k>)
    DATASET/JRD_info.json                {name: jrd}
    DATASET/{train,val,test}_names.json  {"names": [...]}, split by picture with the seed
    DATASET/labels.csv                   one row per object (dropped and below-keep-score ones too) with its
                                         per-QP string
    DATASET/meta.json                    detector, encoder, thresholds, QPs, counts: what reproduces it
    DATASET/.work/<picture>.json         one result per picture (atomic): what a re-run resumes from
The dataset files are rebuilt from .work/ at the end of every run, so an interrupt loses at most the
pictures in progress, and a re-run codes only pictures whose result is missing or made with other settings.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcm import labeling as L
from vcm.errors import VcmError
from vcm.fsutil import atomic_path, sha256_file, write_json_atomic
from vcm.settings import DEFAULT_DETECTOR
from vcm.runner import digest, load_record, note, remove_stale_temps, run_tasks

log = logging.getLogger(__name__)

WORK_DIR = ".work"
SEARCHES = ("smart", "full")
CSV_FIELDS = ("picture", "name", "object", "width", "height", "x1", "y1", "x2", "y2", "class_id", "class", "score",
              "jrd", "rule_jrd", "status", "detected")
FORMAT = 2  # version of the .work record layout (2: probes in objects mode, by vcm.jrd.search)


@dataclass
class LabelConfig:
    """Every setting of a labelling run; those that change labels go into the per-picture fingerprint."""

    pictures: Path
    out: Path
    detector: str = DEFAULT_DETECTOR
    detector_options: dict[str, Any] = field(default_factory=dict)
    qps: list[int] = field(default_factory=lambda: list(range(64)))
    search: str = "smart"
    window: int = L.WINDOW
    match_iou: float | None = None  # None: vcm.metrics.match.MATCH_IOU (the rule every command shares)
    min_score: float | None = None  # the detect score (None: the detector's threshold)
    keep_score: float | None = None  # objects to label: score >= this (None: vcm.metrics.match.KEEP_SCORE)
    encoder: str = "ffmpeg"
    preset: str = "faster"
    matrix: str = "bt709"
    bg_qp: int | None = None  # background QP of the probes (None: vcm encode's, the first of its background QPs)
    margin: int | None = None  # context pixels around each box (None: vcm encode's)
    gt: Path | None = None
    seed: int = 0
    split: tuple[float, float, float] = L.SPLIT_FRACTIONS
    workers: int = 1
    executor: str = "local"  # vcm.runner: local processes or Ray tasks (labels do not depend on it)
    ray_address: str | None = None
    progress: bool = True
    command: str = ""

    def __post_init__(self):
        self.pictures, self.out = Path(self.pictures), Path(self.out)
        self.gt = Path(self.gt) if self.gt else None
        if self.search not in SEARCHES:
            raise VcmError(f"unknown search {self.search!r}", fix="use --search smart or --search full")
        if self.window < 1:
            raise VcmError(f"--window must be >= 1, got {self.window}", fix="use the authors' 8")
        if self.match_iou is not None and not 0.0 < self.match_iou <= 1.0:
            raise VcmError(f"--match-iou must be in (0, 1], got {self.match_iou}", fix="use e.g. 0.5")
        if self.workers < 1:
            raise VcmError(f"--workers must be >= 1, got {self.workers}", fix="use e.g. --workers 2")
        if not self.qps:
            raise VcmError("no QPs to code", fix="use e.g. --qps 0-63")
        from vcm.settings import CodingSettings

        defaults = CodingSettings()
        self.bg_qp = defaults.background_qps()[0] if self.bg_qp is None else int(self.bg_qp)
        self.margin = defaults.margin if self.margin is None else int(self.margin)


@dataclass
class LabelSummary:
    """What a run did (printed at the end, stored in meta.json)."""

    pictures: int = 0
    labelled_now: int = 0
    resumed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    objects: int = 0
    crops: int = 0
    never_lost: int = 0
    dropped: int = 0
    below_keep_score: int = 0
    uncoded: int = 0
    lowered_by_verify: int = 0
    codings: int = 0
    seconds: float = 0.0
    histogram: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    out: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"pictures: {self.pictures} ({self.labelled_now} labelled now, {self.resumed} from an earlier run, "
                 f"{len(self.failed)} failed, {len(self.skipped)} skipped)",
                 f"objects: {self.objects}: {self.crops} labelled (of which {self.never_lost} never lost), "
                 f"{self.dropped} dropped (not found at the lowest QPs), {self.uncoded} with no codable QP, "
                 f"{self.below_keep_score} below the keep score (not labelled), {self.lowered_by_verify} lowered "
                 "by the check through the plan choice",
                 f"QPs probed this run: {self.codings} in {self.seconds:.1f} s",
                 "labels: " + "  ".join(f"{k}:{v}" for k, v in self.histogram.items()),
                 "splits (crops): " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
                 f"dataset: {self.out}"]
        for f in self.failed:
            lines.append(f"FAILED {f['picture']}: {f['error']}")
        for f in self.skipped:
            lines.append(f"skipped {f['picture']}: {f['reason']}")
        return "\n".join(lines)


# --- inputs ------------------------------------------------------------------------------------------------

def list_pictures(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Picture files under `root` (recursive, sorted, hidden entries and `exclude` folders left out)."""
    from vcm.media import PICTURE_EXTS

    if not root.is_dir():
        raise VcmError("not a folder of pictures", path=root, fix="give the folder that holds the pictures")
    excl = [p.resolve() for p in exclude]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".") and (d / n).resolve() not in excl)
        out += [d / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in PICTURE_EXTS]
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def gt_objects(gt_path: Path, relpaths: Sequence[str]) -> tuple[dict[str, list[dict]], str]:
    """Per picture (relative path) its non-crowd COCO boxes as Detection JSON; and the file's sha256."""
    from vcm.gt import image_ids_by_name, read_coco

    coco = read_coco(gt_path)
    ids = image_ids_by_name(coco)
    names = {c["id"]: str(c.get("name", c["id"])) for c in coco["categories"]}
    per_image: dict[Any, list[dict]] = {}
    for a in coco["annotations"]:
        if a.get("iscrowd", 0):
            continue  # crowd regions are not single objects
        x, y, w, h = (float(v) for v in a["bbox"])
        if w < 1 or h < 1:
            continue
        per_image.setdefault(a["image_id"], []).append(
            {"box": [x, y, x + w, y + h], "class_id": int(a["category_id"]), "label": names[a["category_id"]],
             "score": float(a.get("score", 1.0))})
    out = {}
    for rel in relpaths:
        image_id = ids.get(rel, ids.get(Path(rel).name))
        if image_id is not None:
            out[rel] = per_image.get(image_id, [])
    return out, sha256_file(gt_path)


def label_rule(cfg: LabelConfig, detector):
    """The still-detected rule a run labels by, with the scores it really uses (the detector's threshold and
    vcm.metrics.match.KEEP_SCORE where none was given): what meta.json records."""
    from dataclasses import replace

    from vcm.metrics.match import StillDetectedRule

    base = StillDetectedRule.for_detector(detector, iou=cfg.match_iou, keep_score=cfg.keep_score,
                                          detect_score=cfg.min_score)
    return replace(base, match_by=_match_by(cfg))


def settings_record(cfg: LabelConfig, rule, detector_desc: dict, encoder_version: str, gt_sha: str | None) -> dict:
    """Everything that changes a label: recorded in meta.json, hashed into each picture's fingerprint. `rule` is
    `label_rule(cfg, detector)`: the effective keep and detect scores, not the options as given."""
    return {"detector": detector_desc, "detector_options": cfg.detector_options,
            "rule": {"iou": rule.iou, "min_score": rule.min_score, "keep_score": rule.keep_score,
                     "match_by": rule.match_by},
            "encoder": {"name": cfg.encoder, "version": encoder_version, "preset": cfg.preset, "intra": True,
                        "matrix": cfg.matrix},
            "probe": {"predictor": "search", "mode": "objects", "bg_qp": cfg.bg_qp, "margin": cfg.margin,
                      "verify": True},
            "qps": list(cfg.qps), "window": cfg.window, "search": cfg.search,
            "gt": {"path": str(cfg.gt), "sha256": gt_sha} if cfg.gt else None, "format": FORMAT}


def _match_by(cfg: LabelConfig) -> str:
    # COCO category ids differ from detector class ids (1 vs 0 = person): match ground truth by name
    return "label" if cfg.gt else "class_id"


# --- one picture ---------------------------------------------------------------------------------------------

class Labeller:
    """Labels one picture at a time; built once per worker process (the detector loads once)."""

    def __init__(self, cfg: LabelConfig, detector=None):
        from vcm.detect import create_detector

        self.cfg = cfg
        self.detector = detector or create_detector(cfg.detector, **cfg.detector_options)
        self.rule = label_rule(cfg, self.detector)

    def predictor(self):
        """The `search` predictor with this run's settings: the one `vcm predict/encode --jrd search` build."""
        from vcm.jrd.search import SearchPredictor

        cfg = self.cfg
        return SearchPredictor("sweep" if cfg.search == "full" else None, detector=self.detector, rule=self.rule,
                               bg_qp=cfg.bg_qp, margin=cfg.margin, preset=cfg.preset, encoder=cfg.encoder,
                               matrix=cfg.matrix, window=cfg.window, qps=cfg.qps, verify=True, cache=True)

    def label(self, path: Path, name: str, gt: list[dict] | None) -> dict:
        """The .work record of one picture (crops written first); VcmError for an unreadable picture."""
        from vcm.jrd.data import crop_object
        from vcm.media import read_picture, write_picture
        from vcm.types import Detection, Detections

        t0 = time.perf_counter()
        rgb = read_picture(path)
        h, w = rgb.shape[:2]
        if gt is None:
            objects = list(self.detector.detect([rgb])[0])
        else:
            objects = [Detection.from_json(d) for d in gt]
        names = getattr(self.detector, "class_names", {}) or {}
        undetectable = set()
        if gt is not None and names:  # a class the detector cannot return can never be still detected
            known = set(names.values())
            undetectable = {i for i, d in enumerate(objects) if d.label not in known}
        weak = set() if gt is not None else {i for i, d in enumerate(objects) if not self.rule.keeps(d)}
        todo = [i for i in range(len(objects)) if i not in undetectable and i not in weak]
        pred = self.predictor()
        found = pred.predict(rgb, Detections(w, h, tuple(objects[i] for i in todo)), others=tuple(objects))
        stats = pred.last_stats if todo else {}
        if todo and all(o.info["status"] == L.UNCODED for o in found):
            raise VcmError(f"no QP of {self.cfg.qps[0]}..{self.cfg.qps[-1]} could be coded", path=path,
                           fix="see the encoder log named above, or choose other --qps")
        by_obj = dict(zip(todo, found))
        recs = []
        for k, det in enumerate(objects):
            cname = L.crop_name(name, k)
            extra = {}
            if k in by_obj:
                o = by_obj[k]
                status, rule_jrd = o.info["status"], o.info["rule_jrd"]
                jrd = None if rule_jrd is None else int(o.jrd)
                detected = L.detected_string({int(q): None if v is None else [v] for q, v in o.info["detected"].items()}, 0)
                if o.info.get("lowered_by_verify"):
                    extra["lowered_by_verify"] = o.info["lowered_by_verify"]
                if jrd is not None and "verified" in o.info:
                    extra["verified"] = o.info["verified"]  # the file of the plan choice keeps it at its JRD
            else:  # never coded for: a class the detector cannot return, or too weak to be an object to keep
                status = L.BELOW_KEEP_SCORE if k in weak else L.DROPPED
                jrd = rule_jrd = None
                detected = "." * (L.MAX_QP + 1)
            if jrd is not None:
                crop = np.ascontiguousarray(crop_object(rgb, det.box))  # from the ORIGINAL picture
                write_picture(self.cfg.out / "crops" / cname / f"{cname}.png", crop)
            reason = ("class not returned by the detector" if k in undetectable else
                      f"score below the keep score {self.rule.keep_score}" if k in weak else None)
            recs.append({"k": k, "name": cname, **det.to_json(), "jrd": jrd, "rule_jrd": rule_jrd, "status": status,
                         "detected": detected, **extra, **({"reason": reason} if reason else {})})
        return {"width": w, "height": h, "objects": recs, "qps_coded": stats.get("probed_qps", []),
                "codings": stats.get("probes", 0), "encodes": stats.get("encodes", 0),
                "verify_rounds": stats.get("verify_rounds", 0), "seconds": round(time.perf_counter() - t0, 3)}


# --- workers -------------------------------------------------------------------------------------------------

_WORKER: Labeller | None = None


def _set_threads(n: int) -> None:
    import cv2

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _init_worker(cfg: LabelConfig, threads: int) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _set_threads(threads)
    _WORKER = Labeller(cfg)
    _set_threads(threads)  # again: building a torch detector may have imported torch


def _task(labeller: Labeller, task: dict) -> dict:
    """Label one picture and store its .work record; failures come back as a record, never raise."""
    t0 = time.perf_counter()
    try:
        rec = labeller.label(Path(task["path"]), task["name"], task["gt"])
    except VcmError as e:
        return {"ok": False, "picture": task["rel"], "error": str(e)}
    except Exception as e:  # noqa: BLE001 - one bad picture must not stop the run; reported with its type
        log.debug("labelling %s failed", task["rel"], exc_info=True)
        return {"ok": False, "picture": task["rel"], "error": f"{type(e).__name__}: {e}"}
    rec.update({"format": FORMAT, "picture": task["rel"], "name": task["name"], "fingerprint": task["fingerprint"],
                "picture_sha256": task["sha256"]})
    write_json_atomic(Path(task["work"]), rec)
    rec["ok"] = True
    rec["wall"] = time.perf_counter() - t0
    return rec


def _worker_task(task: dict) -> dict:
    assert _WORKER is not None
    return _task(_WORKER, task)


# --- the run -------------------------------------------------------------------------------------------------

def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise VcmError("output exists and is not a folder", path=out, fix="choose a new folder for -o")
    if out.is_dir() and any(out.iterdir()) and not ((out / WORK_DIR).is_dir() or (out / "meta.json").exists()):
        raise VcmError("folder is not empty and was not written by `vcm label`", path=out,
                       fix="choose an empty or new folder for -o")


def _record_complete(rec: dict | None, fingerprint: str, out: Path) -> bool:
    if not rec or rec.get("fingerprint") != fingerprint or rec.get("format") != FORMAT:
        return False
    return all((out / "crops" / o["name"] / f"{o['name']}.png").is_file()
               for o in rec.get("objects", []) if o.get("jrd") is not None)


def run_label(cfg: LabelConfig) -> LabelSummary:
    """Label every picture of cfg.pictures into cfg.out (resuming), then (re)write the dataset files."""
    from vcm.codec import create_encoder
    from vcm.detect import create_detector

    from vcm.runner import check_executor

    t_start = time.perf_counter()
    out = cfg.out
    check_executor(cfg.executor, cfg.ray_address)  # a bad --executor/--ray-address: before anything is written
    _check_out_dir(out)
    paths = list_pictures(cfg.pictures, exclude=[out])
    if not paths:
        raise VcmError("no pictures found (png, jpg, bmp, tif, webp)", path=cfg.pictures,
                       fix="give the folder that holds the pictures")
    rels = [p.relative_to(cfg.pictures).as_posix() for p in paths]
    names = L.picture_names(rels)
    remove_stale_temps(out / WORK_DIR)  # what a killed run's atomic writes left
    enc = create_encoder(cfg.encoder)
    detector = create_detector(cfg.detector, **cfg.detector_options)
    gt_map, gt_sha = (gt_objects(cfg.gt, rels) if cfg.gt else ({}, None))
    settings = settings_record(cfg, label_rule(cfg, detector), detector.describe(), enc.version(), gt_sha)
    # the annotation file itself is not hashed in: each picture's own boxes are (editing one box, or moving
    # the file, relabels only what changed)
    settings_fp = digest({k: v for k, v in settings.items() if k != "gt"} | {"gt_mode": bool(cfg.gt)}, 64)
    work = out / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)

    summary = LabelSummary(pictures=len(paths), out=str(out))
    tasks, records = [], {}
    for path, rel, name in zip(paths, rels, names):
        if cfg.gt and rel not in gt_map:
            summary.skipped.append({"picture": rel, "reason": f"no entry in {cfg.gt.name}"})
            continue
        try:
            sha = sha256_file(path)
        except OSError as e:
            summary.failed.append({"picture": rel, "error": f"cannot read: {e}"})
            continue
        gt = gt_map.get(rel) if cfg.gt else None
        fp = digest({"settings": settings_fp, "picture": sha, "gt": gt}, 64)
        wpath = work / f"{name}.json"
        rec = load_record(wpath)
        if _record_complete(rec, fp, out):
            records[name] = rec
            summary.resumed += 1
            continue
        tasks.append({"path": str(path), "rel": rel, "name": name, "gt": gt, "fingerprint": fp, "sha256": sha,
                      "work": str(wpath)})

    def done(task: dict, res: dict) -> str:
        if res.get("ok"):
            records[res["name"]] = res
            summary.labelled_now += 1
            summary.codings += res.get("codings", 0)
        else:
            summary.failed.append({"picture": res["picture"], "error": res["error"]})
            if cfg.progress:  # at once, not only in the summary: runs are long
                note(f"FAILED {res['picture']}: {res['error']}")
        return f"{sum(len(r.get('objects', [])) for r in records.values())} objects, {len(summary.failed)} failed"

    global _WORKER
    workers = min(cfg.workers, max(1, len(tasks)))
    ray = cfg.executor == "ray"
    threads = 1 if ray else max(1, (os.cpu_count() or 1) // workers)  # a Ray task asks for one CPU
    if workers == 1 and not ray:
        _WORKER = Labeller(cfg, detector)  # the detector built above, reused
    run_tasks(_worker_task, tasks, workers=workers, initializer=_init_worker if workers > 1 or ray else None,
              executor=cfg.executor, ray_address=cfg.ray_address,
              initargs=(cfg, threads), done=done, progress=cfg.progress, unit="pic", desc="vcm label",
              what="pictures", resume_hint=f"results so far are kept in {work}; run the same command again "
                                           "to go on where it stopped")
    summary.seconds = time.perf_counter() - t_start
    write_dataset(cfg, records, settings, summary)
    return summary


# --- the dataset files ---------------------------------------------------------------------------------------

def write_dataset(cfg: LabelConfig, records: dict[str, dict], settings: dict, summary: LabelSummary) -> None:
    """(Re)write JRD_info.json, the split files, labels.csv and meta.json from the per-picture records."""
    out = cfg.out
    labels: dict[str, int] = {}
    crops_by_picture: dict[str, list[str]] = {}
    rows = []
    for pname in sorted(records):
        rec = records[pname]
        for o in rec["objects"]:
            summary.objects += 1
            st = o["status"]
            summary.dropped += st == L.DROPPED
            summary.uncoded += st == L.UNCODED
            summary.below_keep_score += st == L.BELOW_KEEP_SCORE
            summary.never_lost += st == L.NEVER_LOST
            summary.lowered_by_verify += bool(o.get("lowered_by_verify"))
            if o.get("jrd") is not None:
                labels[o["name"]] = int(o["jrd"])
                crops_by_picture.setdefault(pname, []).append(o["name"])
            x1, y1, x2, y2 = o["box"]
            rows.append({"picture": rec["picture"], "name": o["name"], "object": o["k"], "width": rec["width"],
                         "height": rec["height"], "x1": x1, "y1": y1,
                         "x2": x2, "y2": y2, "class_id": o["class_id"], "class": o["label"], "score": o["score"],
                         "jrd": "" if o.get("jrd") is None else o["jrd"],
                         "rule_jrd": "" if o.get("rule_jrd") is None else o["rule_jrd"], "status": st,
                         "detected": o["detected"]})
    summary.crops = len(labels)
    summary.histogram = L.histogram(labels.values())
    split = L.split_pictures(sorted(crops_by_picture), cfg.seed, cfg.split)
    split_names = {s: sorted(n for p in split[s] for n in crops_by_picture[p]) for s in L.SPLIT_NAMES}
    summary.splits = {s: len(v) for s, v in split_names.items()}

    crops = out / "crops"
    if crops.is_dir():  # crops of earlier runs that are no longer labelled (other settings, removed pictures)
        for d in crops.iterdir():
            if d.is_dir() and d.name not in labels:
                shutil.rmtree(d, ignore_errors=True)
    write_json_atomic(out / "JRD_info.json", {n: labels[n] for n in sorted(labels)})
    for s, v in split_names.items():
        write_json_atomic(out / f"{s}_names.json", {"names": v})
    with atomic_path(out / "labels.csv") as tmp:
        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
        tmp.write_text(buf.getvalue())
    from vcm import __version__

    meta = {"tool": "vcm label", "vcm_version": __version__, "command": cfg.command,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pictures_dir": str(cfg.pictures), **settings,
            "qp_range": f"{cfg.qps[0]}-{cfg.qps[-1]}", "label_rule": L.RULE_TEXT.format(w=cfg.window),
            "seed": cfg.seed, "split_fractions": list(cfg.split), "split_pictures": split,
            "counts": {k: v for k, v in summary.to_json().items() if k not in ("out",)}}
    write_json_atomic(out / "meta.json", meta)
