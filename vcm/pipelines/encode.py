"""`vcm encode`: detect objects, give each its JRD, plan QPs, code in one mode, write one file, check the result.

The check decodes the written file exactly as `vcm decode` does and runs the same detector on it: every object
found on the original is judged with the shared "still detected" rule. Beside the file's size the report holds
the bytes of plain VVC at the coarsest QP that still keeps every object (found with the detector in the loop;
vcm.coding.choose writes it instead whenever it is smaller), and of plain VVC at the lowest object QP.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcm.errors import VcmError
from vcm.settings import CodingSettings

EXAMPLE_NOTE = "ultralytics' bundled assets/bus.jpg (AGPL-3.0, read from the installed package)"


def example_picture() -> Path:
    """The bundled example picture: ultralytics' assets/bus.jpg, found without importing ultralytics."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        raise VcmError("the example picture comes with ultralytics, which is not installed",
                       fix="pip install 'vcm[yolo]', or give a picture: vcm encode PICTURE")
    path = Path(spec.origin).parent / "assets" / "bus.jpg"
    if not path.is_file():
        raise VcmError("ultralytics has no assets/bus.jpg", path=path, fix="give a picture: vcm encode PICTURE")
    return path


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
    # plain VVC at the coarsest QP that still keeps every object (qp, bytes), None when no plain QP keeps them all
    plain_keeping: dict[str, Any] | None = None
    data: bytes | None = field(default=None, repr=False)  # the file's bytes (Python API)
    # Y-PSNR (dB) of the written file, decoded as `vcm decode` does, against the ORIGINAL picture (None without
    # --check). Each stream's `encoder_psnr_y` is the encoder's own figure against that stream's input: the
    # blurred picture in blur mode, the crop in objects mode.
    psnr_y: float | None = None

    @property
    def bpp(self) -> float:
        return 8.0 * self.total_bytes / (self.width * self.height)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("data")
        d["bpp"] = self.bpp
        d["counts"] = object_counts(self)
        return d


def run_encode(input_path: "str | Path | np.ndarray", output: str | Path, settings: CodingSettings = CodingSettings(),
               detector: Any = None, detections: Any = None) -> EncodeReport:
    """Code one picture into `output` (written atomically) and report; `detector` may be a built Detector,
    `detections` boxes found beforehand (e.g. ground truth): they replace the detector's own on the original."""
    if settings.cache or settings.mode == "plain":
        return _run_encode(input_path, output, settings, detector, detections, settings.cache)
    # --no-cache: no encode outlives the command, but inside it an identical encode is coded once (an encode
    # cache of its own, removed at the end): the search's probes and its verification, and the plan choice after
    # them, code the same crops, backgrounds and plain pictures.
    import tempfile

    from vcm.codec.cache import EncodeCache

    with tempfile.TemporaryDirectory(prefix="vcm-encode-") as tmp:
        return _run_encode(input_path, output, settings, detector, detections, EncodeCache(tmp))


def _run_encode(input_path, output, settings: CodingSettings, detector: Any, detections: Any,
                cache: Any) -> EncodeReport:
    """run_encode with the encode cache to use (True: the user's, an EncodeCache: the command's own)."""
    from vcm import qp as qpmod
    from vcm.codec import EncodeParams, create_encoder, decoded_psnr, read_picture, rgb_to_yuv, yuv_to_rgb
    from vcm.coding.choose import auto_modes, choose
    from vcm.coding.modes import code_picture_mode, read_coded_file, to_vcm_file
    from vcm.types import Detections, ObjectJRD
    from vcm.container import check_bitstream_name, write_vcm_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.detect import build_detector
    from vcm.jrd import create_predictor
    from vcm.metrics.match import still_detected_all

    s = settings.for_media(video=False)  # --jrd auto: the search
    t_all = time.perf_counter()
    output = Path(output)
    check_bitstream_name(output)  # a raw .266 under an .mp4 name plays nowhere
    if isinstance(input_path, np.ndarray):  # the Python API: an RGB picture in memory
        from vcm.detect.base import check_pictures

        rgb, input_path = check_pictures([input_path])[0], "<array>"
    else:
        input_path = Path(input_path)
        refuse_overwrite_input(output, input_path)
        rgb = read_picture(input_path)
    encoder = create_encoder(s.encoder)
    h, w = rgb.shape[:2]
    try:
        frame = rgb_to_yuv(rgb, s.matrix)  # raises on pictures too small for the encoder, before any work
    except VcmError as e:
        raise VcmError(str(e), path=input_path) from None  # name the file
    secs: dict[str, float] = {}

    t = time.perf_counter()
    det = detector if detector is not None else build_detector(s)
    rule = s.rule_for(det)
    dets = detections if detections is not None else det.detect([rgb])[0]
    # The objects the machine must keep (score >= keep_score); weaker boxes are coded with the background.
    keep_idx = rule.must_keep(dets)
    keep = Detections(w, h, tuple(dets[i] for i in keep_idx))
    secs["detect"] = time.perf_counter() - t

    t = time.perf_counter()
    bg_qps = s.background_qps()
    predictor = None
    if s.mode == "plain":
        objs = [ObjectJRD(d, int(s.qp), "plain") for d in keep]  # placement only; plain codes one QP
    else:
        predictor = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=bg_qps[0], margin=s.margin,
                                     preset=s.preset, encoder=encoder, matrix=s.matrix, cache=cache)
        objs = predictor.predict(rgb, keep, others=dets)
    # An object the search found undetectable at every QP (lost from the lowest QPs on) is not protectable:
    # bits cannot bring it back, so it stays in the background and costs nothing (reported as such).
    protect = [k for k, o in enumerate(objs) if not o.info.get("never_detected")]
    plans = {bg: qpmod.plan([objs[k] for k in protect], w, h, offset=s.jrd_offset, bg_qp=bg, qp_min=s.qp_min,
                            margin=s.margin) for bg in bg_qps}
    secs["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    params = EncodeParams(qp=bg_qps[0], preset=s.preset)
    protected = [keep[k] for k in protect]
    choice = None
    if s.mode == "plain":
        coded = code_picture_mode("plain", frame, plans[bg_qps[0]], params, qp=s.qp, encoder=encoder,
                                  matrix=s.matrix, cache=cache, display=(w, h))
    else:
        modes = auto_modes() if s.mode == "auto" else (s.mode,)
        choice = choose(frame, plans, params, modes=modes, detector=det, rule=rule, protect=protected,
                        original=dets, encoder=encoder, matrix=s.matrix, cache=cache, display=(w, h),
                        plain_search=True, offset=s.jrd_offset, lower=True)
        coded = choice.chosen.coded
    total = write_vcm_file(output, to_vcm_file(coded))
    plan = coded.plan
    secs["encode"] = time.perf_counter() - t

    check, psnr_y = None, None
    still: list[bool | None] = [None] * len(dets)
    if s.check:
        t = time.perf_counter()
        decoded, _ = read_coded_file(output)
        psnr_y = round(decoded_psnr(decoded, frame)[0], 3)
        found = det.detect([yuv_to_rgb(decoded, s.matrix)])[0]
        ok = still_detected_all(protected, found, rule, others=dets)  # as the candidates were checked
        for k, v in zip(protect, ok):
            still[keep_idx[k]] = v
        check = {"still_detected": sum(ok), "objects": len(protected), "detections_after": len(found),
                 "below_keep_score": len(dets) - len(keep), "not_protectable": len(keep) - len(protected),
                 "rule": rule.to_json()}
        secs["check"] = time.perf_counter() - t

    plain = keeping = None
    if choice is not None:
        pc = next(c for c in choice.candidates if c.name == "plain")
        plain = {"qp": pc.coded.qp, "bytes": pc.bytes, "psnr_y": pc.coded.streams[0].result.psnr}
        if choice.reference is not None:
            keeping = {"qp": choice.reference.coded.qp, "bytes": choice.reference.bytes,
                       "not_coded": list(choice.reference_skipped) if choice.reference_skipped else None}
    secs["total"] = time.perf_counter() - t_all

    det_of = {keep_idx[protect[r.index]]: r for r in plan.regions}  # detection index -> its region
    by_index = {keep_idx[protect[k]]: st for st in coded.streams if st.role == "object" for k in (st.index, *st.shared)}
    jrd_of = {keep_idx[k]: o for k, o in enumerate(objs)}
    objects = []
    for i, d in enumerate(dets):
        r, st, o = det_of.get(i), by_index.get(i), jrd_of.get(i)
        shared = st is not None and keep_idx[protect[st.index]] != i  # in the stream of a touching object
        given_up = o is not None and r is None and qpmod.hopeless(o.jrd, plan.qp_min)  # hopeless at --qp-min
        status = ("below keep score" if o is None else "given up under the QP floor" if given_up
                  else "not protectable" if r is None
                  else "shares a stream" if shared else "own stream" if st is not None else "in background")
        objects.append({
            "box": [round(float(v), 2) for v in d.box], "label": d.label, "class_id": d.class_id,
            "score": round(float(d.score), 4),
            "jrd": None if s.mode == "plain" or o is None or (r is None and not given_up) else int(o.jrd),
            "qp": st.qp if st else coded.qp, "rect": list(r.rect) if r else None, "bytes": st.bytes if st and not shared else None,
            "in_background": st is None, "status": status, "kept": o is not None and r is not None,
            "still_detected": still[i], "jrd_source": o.source if o else None,
            "search_probes": o.info.get("probes") if o else None,
            "lowered_by_verify": (o.info.get("lowered_by_verify", 0) or None) if o else None})
    streams = [{"role": st.role, "object": st.index, "rect": list(st.rect), "qp": st.qp, "bytes": st.bytes,
                "encoder_psnr_y": round(st.result.psnr, 3), "cached": st.result.cached} for st in coded.streams]
    enc0 = coded.streams[0].result
    rec = {**s.to_json(), "plan": plan.to_json(), "detector_info": det.describe(),
           "predictor_info": predictor.describe() if predictor else None,
           "backend": enc0.backend, "backend_version": enc0.backend_version, "rule": rule.to_json(),
           "choice": choice.to_json() if choice else None,
           "search_stats": getattr(predictor, "last_stats", None)}
    return EncodeReport(coded.mode, str(input_path), str(output), w, h, total, coded.stream_bytes, objects, streams,
                        plain, check, rec, {k: round(v, 3) for k, v in secs.items()}, plain_keeping=keeping,
                        psnr_y=psnr_y)


def object_counts(r: EncodeReport) -> dict[str, int | None]:
    """The object counts every report uses with one meaning: `detected` (boxes on the original at the detect
    score), `to_keep` (of them at the keep score: what the file must keep), `kept` (still detected in the
    written file, by the final check or the plan's check of the chosen candidate; None unchecked) and `lost`
    (to_keep - kept, objects no QP keeps included)."""
    to_keep = sum(o["status"] != "below keep score" for o in r.objects)
    kept = r.check["still_detected"] if r.check else None
    choice = r.settings.get("choice") or {}
    chosen = next((c for c in choice.get("candidates", ()) if c["name"] == choice.get("chosen")), None)
    if kept is None and chosen and chosen["checked"]:  # the chosen candidate was decoded and checked: that file
        kept = chosen["kept"]
    return {"detected": len(r.objects), "to_keep": to_keep, "kept": kept,
            "lost": None if kept is None else to_keep - kept}


def plain_reference(r: EncodeReport) -> dict[str, Any] | None:
    """The plain VVC file the report compares with ({"qp", "bytes"}): the smallest plain VVC that keeps every
    object where the plan found one (`plain_keeping`), else plain VVC at the lowest object QP."""
    return getattr(r, "plain_keeping", None) or r.plain_min_qp


def stock_player_note(streams: int | None = None) -> str:
    """What a stock VVC player makes of an objects-mode file (several streams, placed by vcm's SEI); `None`:
    a video coded with --intra (each frame's streams)."""
    if streams is None:
        return ("  note: --intra writes each frame as a background stream plus object crops that `vcm decode` "
                "composites; a stock VVC player (ffmpeg, VLC) shows the crops as extra pictures. For a video any "
                "player shows: drop --intra")
    return (f"  note: objects mode writes {streams} VVC streams (background + object crops) that `vcm decode` "
            f"composites; a stock VVC player (ffmpeg, VLC) shows them as {streams} separate pictures. For one "
            f"standard picture: --mode blur, frame or plain")


def format_report(r: EncodeReport) -> str:
    """The one screen `vcm encode` prints."""
    s = r.settings
    choice = s.get("choice")
    mode = s["mode"] + (f" -> {choice['chosen']}" if choice else "")
    lines = [f"{r.input} ({r.width}x{r.height}) -> {r.output}   mode {mode}, detector {s['detector']}, "
             + (f"QP {s['qp']}" if s["mode"] == "plain" else f"jrd {s['jrd']} (offset {s['jrd_offset']:+d}), "
                f"background QP {s['bg_qp']}") + f", preset {s['preset']}"]
    if r.objects:
        lines.append(f"  {'#':>2}  {'label':<10} {'score':>5}  {'box x1,y1,x2,y2':<25} {'JRD':>3} {'QP':>3} {'bytes':>7}  check")
        for i, o in enumerate(r.objects):
            box = ",".join(f"{v:.0f}" for v in o["box"])
            jrd = "-" if o["jrd"] is None else str(o["jrd"])
            nb = "-" if o["bytes"] is None else str(o["bytes"])
            chk = {True: "still detected", False: "LOST", None: ""}[o["still_detected"]]
            if o.get("status") in ("below keep score", "not protectable", "given up under the QP floor"):
                chk = {"below keep score": f"not kept (score < {s['rule']['keep_score']}): with the background",
                       "not protectable": "no QP keeps it: coded with the background",
                       "given up under the QP floor": f"JRD far below --qp-min {s['qp_min']}: with the background"
                       }[o["status"]]
            lines.append(f"  {i:>2}  {o['label'][:10]:<10} {o['score']:5.2f}  {box:<25} {jrd:>3} {o['qp']:>3} {nb:>7}  {chk}")
    else:
        lines.append("  no objects found: the file holds the background only")
    lines.append("  streams: " + ", ".join(f"{st['role']}{'' if st['object'] is None else ' ' + str(st['object'])} "
                                         f"QP {st['qp']} {st['bytes']} B" for st in r.streams))
    line = f"  total {r.total_bytes} bytes, {r.bpp:.4f} bpp"
    if r.psnr_y is not None:
        line += f", Y-PSNR {r.psnr_y:.2f} dB against the original"
    if r.plain_keeping:
        p = r.plain_keeping
        gap = p.get("not_coded")  # the scan stopped where plain files grew larger than this file
        line += (f"   | {'plain VVC' if gap else 'smallest plain VVC'} that keeps every object: QP {p['qp']}, "
                 f"{p['bytes']} bytes ({100.0 * r.total_bytes / p['bytes']:.1f} % of it"
                 + (f"; plain QPs {gap[0]}-{gap[1]} not coded: larger than this file, as at QP {gap[1] + 1})"
                    if gap else ")"))
    elif r.plain_min_qp:
        p = r.plain_min_qp
        line += (f"   | plain VVC at the lowest object QP {p['qp']}: {p['bytes']} bytes "
                 f"({100.0 * r.total_bytes / p['bytes']:.1f} % of it)")
    lines.append(line)
    if choice:
        def cand(c: dict) -> str:
            if not c["checked"]:
                return f"{c['name']} {c['bytes']} B"
            false = f" +{c['false_detections']} false" if c["false_detections"] else ""
            return f"{c['name']} {c['bytes']} B {c['kept']}/{c['objects']}{false}" + ("" if c["passed"] else " (fails)")
        probes = [c for c in choice["candidates"] if c["name"].startswith("plain@") and c["checked"] and not c["passed"]
                  and c["name"] != choice["chosen"]]
        shown = [c for c in choice["candidates"] if c not in probes]
        lines.append("  candidates: " + ", ".join(cand(c) for c in sorted(shown, key=lambda c: c["bytes"]))
                     + f"; {choice['reason']}")
        if probes:
            qs = sorted(int(c["name"].split("@")[1]) for c in probes)
            runs: list[list[int]] = []
            for q in qs:
                if runs and q == runs[-1][-1] + 1:
                    runs[-1].append(q)
                else:
                    runs.append([q])
            text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
            lines.append(f"  plain VVC at QP {text}: loses an object or adds a false detection")
    if (r.objects and r.mode in ("objects", "blur") and isinstance(s["bg_qp"], int)
            and min(o["qp"] for o in r.objects) > s["bg_qp"]):
        lines.append(f"  note: every object tolerates a QP above the background QP {s['bg_qp']}: the background costs "
                     f"more than it needs; try --bg-qp {min(63, max(o['qp'] for o in r.objects))} or higher")
    if len(r.streams) > 1:
        lines.append(stock_player_note(len(r.streams)))
    if r.check:
        c = r.check
        n = object_counts(r)
        lines.append(f"  check on the decoded file: objects still detected {c['still_detected']}/{c['objects']} "
                     f"(of {n['detected']} detected: {n['to_keep']} at the keep score {s['rule']['keep_score']}, "
                     f"{n['lost']} lost)")
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)
