"""`vcm encode VIDEO`, `vcm decode VIDEO.266` and `vcm benchmark` on videos: compose vcm.coding.video.

Encode: read the clip, detect on every k-th frame (boxes carried between), JRD per object, per-frame QP plans,
code in one mode into one vcm video file (vcm.video_container), then check: decode the file exactly as
`vcm decode` does, run the detector on the detected frames again, and report bits, kbps, detections kept per
frame and mAP against the pseudo ground truth (the detections on the original frames).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vcm.errors import VcmError
from vcm.types import Detections

OUTPUT_EXTS = (".mkv", ".y4m")


def is_video_path(path: str | Path) -> bool:
    from vcm.media import VIDEO_EXTS

    return Path(path).suffix.lower() in VIDEO_EXTS


@dataclass
class VideoSettings:
    """Everything that changes the output file (recorded in the report)."""

    mode: str = "objects"  # plain, frame, objects
    intra: bool = False  # objects mode on every frame, all-intra
    detector: str = "hog-person"
    jrd: str = "search"
    jrd_offset: int = 0
    bg_qp: int = 51
    qp: int | None = None  # plain only
    qp_min: int = 0
    margin: int = 16
    encoder: str = "ffmpeg"
    preset: str = "faster"
    matrix: str = "bt709"
    intra_period: int = 32  # frames per segment (random access)
    detect_every: int = 1
    start: int = 0  # first frame coded
    max_frames: int | None = None
    check: bool = True
    compare_plain: bool = True
    cache: bool = True


@dataclass
class VideoReport:
    mode: str
    input: str
    output: str
    width: int
    height: int
    frames: int
    fps: float
    total_bytes: int
    segments: list[dict[str, Any]]
    per_frame: list[dict[str, Any]]
    check: dict[str, Any] | None
    plain: dict[str, Any] | None
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def kbps(self) -> float:
        return 8.0 * self.total_bytes * self.fps / self.frames / 1000.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["bits"] = 8 * self.total_bytes
        d["kbps"] = self.kbps
        return d


def read_clip(path: str | Path, start: int = 0, max_frames: int | None = None):
    """RGB frames [start, start + max_frames) of a video file and its frame rate."""
    from vcm.media import read_video_rgb

    frames, fps = read_video_rgb(path, start + max_frames if max_frames else None)
    frames = frames[start:]
    if not frames:
        raise VcmError(f"the video has no frame at or after frame {start}", path=path, fix="lower --start")
    return frames, fps


def detect_decoded(frames_yuv, indices: Sequence[int], detector, matrix: str) -> list[Detections]:
    from vcm.codec import yuv_to_rgb

    return detector.detect([yuv_to_rgb(frames_yuv[i], matrix) for i in indices])


def check_frames(originals: Sequence[Detections], decoded: Sequence[Detections], rule) -> dict[str, Any]:
    """Kept per frame (the still-detected rule) and mAP of the decoded frames against the originals."""
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import still_detected_all

    kept = [sum(still_detected_all(o, d, rule)) for o, d in zip(originals, decoded)]
    m = pseudo_map(list(originals), list(decoded))
    n = sum(len(o) for o in originals)
    return {"kept": kept, "objects": [len(o) for o in originals], "kept_total": sum(kept), "objects_total": n,
            "kept_fraction": sum(kept) / n if n else 1.0, "map50": m.map50, "map": m.map50_95}


def run_encode_video(input_path: str | Path, output: str | Path, settings: VideoSettings = VideoSettings(),
                     detector: Any = None, predictors: dict[str, Any] | None = None) -> VideoReport:
    """Code one video into `output` (written atomically) and report. `detector` and `predictors` (spec ->
    predictor) may be built already (batch workers build them once)."""
    from vcm.codec import EncodeParams, create_encoder, rgb_to_yuv
    from vcm.coding.video import analyse, code_video, decode_video_file, plan_frames, plan_segments
    from vcm.detect import create_detector
    from vcm.fsutil import refuse_overwrite_input
    from vcm.jrd import create_predictor
    from vcm.metrics.match import StillDetectedRule
    from vcm.video_container import write_video_file

    s = settings
    t_all = time.perf_counter()
    if s.mode not in ("plain", "frame", "objects"):
        raise VcmError(f"mode {s.mode!r} does not apply to video", fix="use --mode plain, frame or objects")
    if s.mode == "plain" and s.qp is None:
        raise VcmError("plain mode needs a QP", fix="pass --qp Q (0..63)")
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    encoder = create_encoder(s.encoder)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    rgb, fps = read_clip(input_path, s.start, s.max_frames)
    yuv = [rgb_to_yuv(f, s.matrix) for f in rgb]
    h, w = rgb[0].shape[:2]
    secs["read"] = time.perf_counter() - t

    det = detector if detector is not None else create_detector(s.detector)
    rule = StillDetectedRule.for_detector(det)
    predictor = None
    if s.mode != "plain":
        predictors = predictors if predictors is not None else {}
        if s.jrd not in predictors:
            predictors[s.jrd] = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=s.bg_qp, margin=s.margin,
                                                 preset=s.preset, encoder=encoder, matrix=s.matrix, cache=s.cache)
        predictor = predictors[s.jrd]
    an = analyse(rgb, det, predictor, every=s.detect_every, fixed_jrd=s.qp if s.qp is not None else 63)
    secs.update(an.seconds)
    plans = plan_frames(an, offset=s.jrd_offset, bg_qp=s.bg_qp, qp_min=s.qp_min, margin=s.margin)

    t = time.perf_counter()
    params = EncodeParams(qp=s.bg_qp, preset=s.preset, intra=False, intra_period=s.intra_period)
    coded = code_video(s.mode, yuv, plans, params, fps=fps, qp=s.qp, intra=s.intra, encoder=encoder,
                       matrix=s.matrix, cache=s.cache, display=(w, h))
    total = write_video_file(output, coded.to_file())
    secs["encode"] = time.perf_counter() - t

    idx = an.detected_indices
    check = None
    kept_at: dict[int, int] = {}
    if s.check:
        t = time.perf_counter()
        decoded, vf = decode_video_file(output)
        if len(decoded) != len(rgb):
            raise VcmError(f"the written file decodes to {len(decoded)} frames, not {len(rgb)}", path=output,
                           fix="report this bug; the encoder or decoder misbehaved")
        found = detect_decoded(decoded, idx, det, s.matrix)
        check = check_frames([an.detections[i] for i in idx], found, rule)
        check["frames_checked"] = idx
        check["rule"] = rule.to_json()
        kept_at = dict(zip(idx, check["kept"]))
        secs["check"] = time.perf_counter() - t

    plain = None
    if s.compare_plain and s.mode != "plain":
        t = time.perf_counter()
        q = min(p.min_qp for p in plans) if coded.mode == "intra" else min(u.qp for u in coded.units)
        pv = code_video("plain", yuv, plans, params, fps=fps, qp=q, encoder=encoder, matrix=s.matrix,
                        cache=s.cache)
        plain = {"qp": q, "bytes": pv.stream_bytes, "encode_s": round(pv.encode_seconds, 3)}
        secs["plain"] = time.perf_counter() - t
    secs["total"] = time.perf_counter() - t_all

    if coded.mode == "intra":
        segments = [{"index": k, "start": u.start, "frames": u.frames, "qp": u.qp, "bytes": len(u.data)}
                    for k, u in enumerate(coded.units)]
    else:
        segs = plan_segments(plans, s.intra_period) if s.mode != "plain" else []
        segments = [{"index": k, "start": u.start, "frames": u.frames, "qp": u.qp, "bytes": len(u.data),
                     "objects": segs[k].objects if segs else None} for k, u in enumerate(coded.units)]
    unit_qp = [u.qp for u in coded.units for _ in range(u.frames)]
    per_frame = [{"frame": s.start + i, "detected": an.detected[i], "objects": len(an.detections[i]),
                  "kept": kept_at.get(i), "regions": len(plans[i].regions), "qp": unit_qp[i],
                  "jrd": [int(o.jrd) for o in an.objects[i]] if an.detected[i] and s.mode != "plain" else None}
                 for i in range(len(rgb))]
    r0 = coded.units[0].results[0]
    rec = {**asdict(s), "detector_info": det.describe(),
           "predictor_info": predictor.describe() if predictor else None, "backend": r0.backend,
           "backend_version": r0.backend_version, **coded.settings}
    return VideoReport(coded.mode, str(input_path), str(output), w, h, len(rgb), float(fps), total, segments,
                       per_frame, check, plain, rec, {k: round(v, 3) for k, v in secs.items()})


def format_video_report(r: VideoReport) -> str:
    s = r.settings
    head = (f"{r.input} ({r.width}x{r.height}, {r.frames} frames at {r.fps:g} fps) -> {r.output}   mode "
            f"{r.mode}, detector {s['detector']}, ")
    head += f"QP {s['qp']}" if r.mode == "plain" else (f"jrd {s['jrd']} (offset {s['jrd_offset']:+d}), "
                                                       f"background QP {s['bg_qp']}")
    lines = [head + f", preset {s['preset']}, intra period {s['intra_period']}"]
    if r.mode != "intra":
        lines.append("  segments: " + ", ".join(f"{g['start']}-{g['start'] + g['frames'] - 1} QP {g['qp']} "
                                                f"{g['bytes']} B" for g in r.segments))
    else:
        qps = [g["qp"] for g in r.segments]
        lines.append(f"  {len(r.segments)} all-intra pictures, background QP {min(qps)}-{max(qps)}")
    line = f"  total {r.total_bytes} bytes = {8 * r.total_bytes} bits, {r.kbps:.1f} kbps"
    if r.plain:
        p = r.plain
        line += (f"   | plain random-access VVC at QP {p['qp']}: {p['bytes']} bytes "
                 f"({100.0 * r.total_bytes / max(1, p['bytes']):.1f} % of it)")
    lines.append(line)
    if r.check:
        c = r.check
        kept = " ".join(f"{k}/{n}" for k, n in zip(c["kept"], c["objects"]))
        m50 = "n/a" if c["map50"] is None or c["map50"] != c["map50"] else f"{c['map50']:.3f}"
        lines.append(f"  check on {len(c['kept'])} decoded frames: kept per frame {kept}; "
                     f"kept {c['kept_total']}/{c['objects_total']}, mAP@0.5 {m50} vs the detections on the originals")
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)


def run_decode_video(input_path: str | Path, output: str | Path, decoder: str = "pyav") -> dict[str, Any]:
    """A vcm video file -> a lossless video (.mkv, FFV1 RGB) or the decoded 10-bit frames (.y4m), with frame
    count, size and frame rate preserved."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.video import decode_video_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.media import write_video_lossless, write_y4m

    t0 = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    ext = output.suffix.lower()
    if ext not in OUTPUT_EXTS:
        raise VcmError(f"a video decodes to .mkv (lossless FFV1) or .y4m, not {ext or 'no extension'}", path=output,
                       fix="name the output e.g. out.mkv")
    frames, vf = decode_video_file(input_path, decoder)
    if ext == ".y4m":
        write_y4m(output, frames, float(vf.fps))
    else:
        write_video_lossless(output, [yuv_to_rgb(f, vf.matrix) for f in frames], float(vf.fps))
    return {"input": str(input_path), "output": str(output), "mode": vf.mode, "width": vf.width,
            "height": vf.height, "frames": len(frames), "fps": float(vf.fps), "matrix": vf.matrix,
            "bytes": input_path.stat().st_size,
            "units": [{"frames": u.frames, "qp": u.qp, "bytes": len(u.data)} for u in vf.units],
            "seconds": round(time.perf_counter() - t0, 3)}
