"""`vcm encode`: detect objects, give each its JRD, plan QPs, code in one mode, write one file, check the result.

The check decodes the written file exactly as `vcm decode` does and runs the same detector on it: every object
found on the original is judged with the shared "still detected" rule. Beside the file's size the report holds
the bytes of plain VVC at the lowest object QP (the picture coded the ordinary way at the quality the most
demanding object needs).
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vcm.errors import VcmError

EXAMPLE_NOTE = "ultralytics' bundled assets/bus.jpg (AGPL-3.0, read from the installed package)"


def example_picture() -> Path:
    """The bundled example picture: ultralytics' assets/bus.jpg, found without importing ultralytics."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        raise VcmError("the example picture comes with ultralytics, which is not installed",
                       fix="pip install ultralytics, or give a picture: vcm encode PICTURE")
    path = Path(spec.origin).parent / "assets" / "bus.jpg"
    if not path.is_file():
        raise VcmError("ultralytics has no assets/bus.jpg", path=path, fix="give a picture: vcm encode PICTURE")
    return path


@dataclass
class EncodeSettings:
    """Everything that changes the output file (recorded in the report)."""

    mode: str = "objects"
    detector: str = "hog-person"
    jrd: str = "search"
    jrd_offset: int = 0
    bg_qp: int = 51
    qp: int | None = None  # plain mode only
    qp_min: int = 0
    margin: int = 48
    encoder: str = "ffmpeg"
    preset: str = "faster"
    matrix: str = "bt709"
    check: bool = True  # decode the file and re-detect
    compare_plain: bool = True  # also code plain VVC at the lowest object QP (bytes only)
    cache: bool = True  # reuse identical earlier encodes


@dataclass
class EncodeReport:
    """What `vcm encode` did; `to_json()` is the --json report (its `objects` load as a pandas DataFrame)."""

    mode: str
    input: str
    output: str
    width: int
    height: int
    total_bytes: int
    stream_bytes: int
    objects: list[dict[str, Any]]
    streams: list[dict[str, Any]]
    plain_min_qp: dict[str, Any] | None
    check: dict[str, Any] | None
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def bpp(self) -> float:
        return 8.0 * self.total_bytes / (self.width * self.height)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["bpp"] = self.bpp
        return d


def run_encode(input_path: str | Path, output: str | Path, settings: EncodeSettings = EncodeSettings(),
               detector: Any = None, detections: Any = None) -> EncodeReport:
    """Code one picture into `output` (written atomically) and report; `detector` may be a built Detector,
    `detections` boxes found beforehand (e.g. ground truth): they replace the detector's own on the original."""
    from vcm import qp as qpmod
    from vcm.codec import EncodeParams, create_encoder, read_picture, rgb_to_yuv, yuv_to_rgb
    from vcm.coding.modes import MODES, code_picture_mode, read_coded_file, to_vcm_file
    from vcm.container import write_vcm_file
    from vcm.detect import create_detector
    from vcm.fsutil import refuse_overwrite_input
    from vcm.jrd import create_predictor
    from vcm.metrics.match import StillDetectedRule, still_detected_all

    s = settings
    t_all = time.perf_counter()
    if s.mode not in MODES:
        raise VcmError(f"unknown mode {s.mode!r}", fix=f"use one of {', '.join(MODES)}")
    if s.mode == "plain" and s.qp is None:
        raise VcmError("plain mode needs a QP", fix="pass --qp Q (0..63)")
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    encoder = create_encoder(s.encoder)
    rgb = read_picture(input_path)
    h, w = rgb.shape[:2]
    try:
        frame = rgb_to_yuv(rgb, s.matrix)  # raises on pictures too small for the encoder, before any work
    except VcmError as e:
        raise VcmError(str(e), path=input_path) from None  # name the file
    secs: dict[str, float] = {}

    t = time.perf_counter()
    det = detector if detector is not None else create_detector(s.detector)
    rule = StillDetectedRule.for_detector(det)
    dets = detections if detections is not None else det.detect([rgb])[0]
    secs["detect"] = time.perf_counter() - t

    t = time.perf_counter()
    predictor = None
    if s.mode == "plain":
        from vcm.types import ObjectJRD

        objs = [ObjectJRD(d, int(s.qp), "plain") for d in dets]  # placement only; plain codes one QP
    else:
        predictor = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=s.bg_qp, margin=s.margin,
                                     preset=s.preset, encoder=encoder, matrix=s.matrix, cache=s.cache)
        objs = predictor.predict(rgb, dets)
    # An object the search found undetectable at every QP (lost from the lowest QPs on) gets no crop: bits
    # cannot bring it back, so it stays in the background (reported with jrd None, status never_detected).
    kept = [i for i, o in enumerate(objs) if not o.info.get("never_detected")]
    plan = qpmod.plan([objs[i] for i in kept], w, h, offset=s.jrd_offset, bg_qp=s.bg_qp, qp_min=s.qp_min,
                      margin=s.margin)
    secs["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    params = EncodeParams(qp=s.bg_qp, preset=s.preset)
    coded = code_picture_mode(s.mode, frame, plan, params, qp=s.qp, encoder=encoder, matrix=s.matrix, cache=s.cache,
                              display=(w, h))
    total = write_vcm_file(output, to_vcm_file(coded))
    secs["encode"] = time.perf_counter() - t

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)  # the plain-VVC comparison encode runs beside the check's decode + detection
    plain_job = None
    if s.compare_plain and s.mode in ("objects", "frame") and not plan.regions:
        plain_job = pool.submit(lambda: coded)  # no objects: the file's one stream IS plain VVC at the bg QP
    elif s.compare_plain and s.mode != "plain":
        plain_job = pool.submit(code_picture_mode, "plain", frame, plan, params, qp=plan.min_qp, encoder=encoder,
                                matrix=s.matrix, cache=s.cache)
    check = None
    still: list[bool | None] = [None] * len(dets)
    if s.check:
        t = time.perf_counter()
        decoded, _ = read_coded_file(output)
        found = det.detect([yuv_to_rgb(decoded, s.matrix)])[0]
        still = still_detected_all(dets, found, rule)
        check = {"still_detected": sum(still), "objects": len(dets), "detections_after": len(found),
                 "rule": rule.to_json()}
        secs["check"] = time.perf_counter() - t

    plain = None
    if plain_job is not None:
        coded_plain = plain_job.result()
        plain = {"qp": plan.min_qp, "bytes": coded_plain.stream_bytes, "psnr_y": coded_plain.streams[0].result.psnr}
        secs["plain"] = coded_plain.seconds  # ran beside the check
    pool.shutdown()
    secs["total"] = time.perf_counter() - t_all

    region_of = {kept[r.index]: r for r in plan.regions}
    by_index = {kept[st.index]: st for st in coded.streams if st.role == "object"}
    objects = []
    for i, o in enumerate(objs):
        d, r, st = o.detection, region_of.get(i), by_index.get(i)
        objects.append({
            "box": [round(float(v), 2) for v in d.box], "label": d.label, "class_id": d.class_id,
            "score": round(float(d.score), 4), "jrd": None if s.mode == "plain" or r is None else int(o.jrd),
            "qp": st.qp if st else coded.qp, "rect": list(r.rect) if r else None, "bytes": st.bytes if st else None,
            "in_background": r is None,
            "still_detected": still[i], "jrd_source": o.source,
            "search_probes": o.info.get("probes"), "lowered_by_verify": o.info.get("lowered_by_verify", 0) or None})
    streams = [{"role": st.role, "object": st.index, "rect": list(st.rect), "qp": st.qp, "bytes": st.bytes,
                "psnr_y": round(st.result.psnr, 3), "cached": st.result.cached} for st in coded.streams]
    enc0 = coded.streams[0].result
    rec = {**asdict(s), "plan": plan.to_json(), "detector_info": det.describe(),
           "predictor_info": predictor.describe() if predictor else None,
           "backend": enc0.backend, "backend_version": enc0.backend_version,
           "search_stats": getattr(predictor, "last_stats", None)}
    return EncodeReport(s.mode, str(input_path), str(output), w, h, total, coded.stream_bytes, objects, streams,
                        plain, check, rec, {k: round(v, 3) for k, v in secs.items()})


def format_report(r: EncodeReport) -> str:
    """The one screen `vcm encode` prints."""
    s = r.settings
    lines = [f"{r.input} ({r.width}x{r.height}) -> {r.output}   mode {r.mode}, detector {s['detector']}, "
             + (f"QP {s['qp']}" if r.mode == "plain" else f"jrd {s['jrd']} (offset {s['jrd_offset']:+d}), "
                f"background QP {s['bg_qp']}") + f", preset {s['preset']}"]
    if r.objects:
        lines.append(f"  {'#':>2}  {'label':<10} {'score':>5}  {'box x1,y1,x2,y2':<25} {'JRD':>3} {'QP':>3} {'bytes':>7}  check")
        for i, o in enumerate(r.objects):
            box = ",".join(f"{v:.0f}" for v in o["box"])
            jrd = "-" if o["jrd"] is None else str(o["jrd"])
            nb = "-" if o["bytes"] is None else str(o["bytes"])
            chk = {True: "still detected", False: "LOST", None: ""}[o["still_detected"]]
            if o.get("in_background") and r.mode != "plain":
                chk += " (no QP keeps it: coded with the background)"
            lines.append(f"  {i:>2}  {o['label'][:10]:<10} {o['score']:5.2f}  {box:<25} {jrd:>3} {o['qp']:>3} {nb:>7}  {chk}")
    else:
        lines.append("  no objects found: the file holds the background only")
    lines.append("  streams: " + ", ".join(f"{st['role']}{'' if st['object'] is None else ' ' + str(st['object'])} "
                                         f"QP {st['qp']} {st['bytes']} B" for st in r.streams))
    line = f"  total {r.total_bytes} bytes, {r.bpp:.4f} bpp"
    if r.plain_min_qp:
        p = r.plain_min_qp
        line += (f"   | plain VVC at the lowest object QP {p['qp']}: {p['bytes']} bytes "
                 f"({100.0 * r.total_bytes / p['bytes']:.1f} % of it)")
    lines.append(line)
    if r.objects and r.mode in ("objects", "blur") and min(o["qp"] for o in r.objects) > s["bg_qp"]:
        lines.append(f"  note: every object tolerates a QP above the background QP {s['bg_qp']}: the background costs "
                     f"more than it needs; try --bg-qp {min(63, max(o['qp'] for o in r.objects))} or higher")
    if r.check:
        c = r.check
        lines.append(f"  check on the decoded file: objects still detected {c['still_detected']}/{c['objects']}")
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)
