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
from vcm.settings import CodingSettings
from vcm.types import Detections

OUTPUT_EXTS = (".mkv", ".y4m")


def is_video_path(path: str | Path) -> bool:
    from vcm.media import VIDEO_EXTS

    return Path(path).suffix.lower() in VIDEO_EXTS


@dataclass
class VideoReport:
    """What `vcm encode VIDEO` did; `to_json()` is the --json report."""

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
    check: FrameCheck | None
    plain: dict[str, Any] | None
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def kbps(self) -> float:
        return 8.0 * self.total_bytes * self.fps / self.frames / 1000.0

    def object_counts(self) -> dict[str, int | None]:
        """The counts of vcm.pipelines.encode.object_counts summed over the detected frames: boxes found,
        objects to keep (at the keep score), still detected in the written file (None unchecked), lost."""
        done = [f for f in self.per_frame if f["detected"]]
        to_keep = sum(f["objects"] for f in done)
        kept = self.check.kept_total if self.check is not None else None
        return {"detected": sum(f.get("found") or 0 for f in done), "to_keep": to_keep, "kept": kept,
                "lost": None if kept is None else to_keep - kept}

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"] = self.check.to_json() if self.check is not None else None
        d["bits"] = 8 * self.total_bytes
        d["kbps"] = self.kbps
        d["counts"] = self.object_counts()
        return d


def read_clip(path: str | Path, start: int = 0, max_frames: int | None = None):
    """RGB frames [start, start + max_frames) of a video file and its frame rate."""
    frames, fps, _ = read_clip_yuv(path, start, max_frames)
    return frames, fps


def read_clip_yuv(path: str | Path, start: int = 0, max_frames: int | None = None, matrix: str = "bt709"):
    """`read_clip` plus the file's own 10-bit 4:2:0 frames for a Y4M file (None for other videos)."""
    from vcm.media import read_video

    frames, fps, yuv = read_video(path, start + max_frames if max_frames else None, matrix)
    frames, yuv = frames[start:], (yuv[start:] if yuv is not None else None)
    if not frames:
        raise VcmError(f"the video has no frame at or after frame {start}", path=path, fix="lower --start")
    return frames, fps, yuv


def detect_decoded(frames_yuv, indices: Sequence[int], detector, matrix: str) -> list[Detections]:
    from vcm.codec import yuv_to_rgb

    return detector.detect([yuv_to_rgb(frames_yuv[i], matrix) for i in indices])


@dataclass(frozen=True)
class FrameCheck:
    """The check of a coded video: objects kept per checked frame (the still-detected rule) and mAP of the
    decoded frames against the detections on the originals."""

    kept: list[int]
    objects: list[int]
    kept_total: int
    objects_total: int
    kept_fraction: float
    map50: float
    map: float  # mAP@0.5:0.95
    frames_checked: list[int] | None = None  # indices of the detected frames, within the coded clip
    rule: Any = None  # the vcm.metrics.match.StillDetectedRule judged by

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["rule"] = self.rule.to_json() if self.rule is not None else None
        return d


def check_frames(originals: Sequence[Detections], decoded: Sequence[Detections], rule,
                 frames_checked: Sequence[int] | None = None) -> FrameCheck:
    """Kept per frame (the still-detected rule) and mAP of the decoded frames against the originals."""
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import still_detected_all

    kept = [sum(still_detected_all(o, d, rule)) for o, d in zip(originals, decoded)]
    m = pseudo_map(list(originals), list(decoded))
    n = sum(len(o) for o in originals)
    return FrameCheck(kept, [len(o) for o in originals], sum(kept), n, sum(kept) / n if n else 1.0, m.map50,
                      m.map50_95, None if frames_checked is None else list(frames_checked), rule)


def run_encode_video(input_path: str | Path, output: str | Path, settings: CodingSettings = CodingSettings(),
                     detector: Any = None, predictors: dict[str, Any] | None = None) -> VideoReport:
    """Code one video into `output` (written atomically) and report. `detector` and `predictors` (spec ->
    predictor) may be built already (batch workers build them once)."""
    from vcm.codec import EncodeParams, create_encoder, rgb_to_yuv
    from vcm.coding.video import analyse, code_video, decode_video_file, plan_frames, plan_segments
    from vcm.detect import build_detector
    from vcm.fsutil import refuse_overwrite_input
    from vcm.jrd import create_predictor
    from vcm.fsutil import write_bytes_atomic
    from vcm.video_container import pack_video_file

    s = settings
    t_all = time.perf_counter()
    s.check_for_video()
    from vcm.settings import AUTO, DEFAULT_BG_QP

    if s.mode == AUTO or s.bg_qp == AUTO:  # video: object streams per segment, the default background
        s = s.replace(mode="objects" if s.mode == AUTO else s.mode,
                      bg_qp=DEFAULT_BG_QP if s.bg_qp == AUTO else s.bg_qp)
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    from vcm.container import check_bitstream_name

    check_bitstream_name(output)
    encoder = create_encoder(s.encoder)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    rgb, fps, yuv = read_clip_yuv(input_path, s.start, s.max_frames, s.matrix)
    yuv = yuv if yuv is not None else [rgb_to_yuv(f, s.matrix) for f in rgb]  # a Y4M is coded as it is
    h, w = rgb[0].shape[:2]
    secs["read"] = time.perf_counter() - t

    det = detector if detector is not None else build_detector(s)
    rule = s.rule_for(det)
    predictor = None
    if s.mode != "plain":
        predictors = predictors if predictors is not None else {}
        if s.jrd not in predictors:
            predictors[s.jrd] = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=s.bg_qp, margin=s.margin,
                                                 preset=s.preset, encoder=encoder, matrix=s.matrix, cache=s.cache)
        predictor = predictors[s.jrd]
    an = analyse(rgb, det, predictor, every=s.detect_every, fixed_jrd=s.qp if s.qp is not None else 63, rule=rule)
    secs.update(an.seconds)
    plans = plan_frames(an, offset=s.jrd_offset, bg_qp=s.bg_qp, qp_min=s.qp_min, margin=s.margin)

    t = time.perf_counter()
    params = EncodeParams(qp=s.bg_qp, preset=s.preset, intra=False, intra_period=s.intra_period)
    coded = code_video(s.mode, yuv, plans, params, fps=fps, qp=s.qp, intra=s.intra, encoder=encoder,
                       matrix=s.matrix, cache=s.cache, display=(w, h))
    data = pack_video_file(coded.to_file())
    secs["encode"] = time.perf_counter() - t
    plain, fallback = None, None
    if s.mode != "plain":  # plain random access at the lowest QP used: the comparison, and the fallback
        t = time.perf_counter()
        q = min(p.min_qp for p in plans) if coded.mode == "intra" else min(u.qp for u in coded.units)
        pv = code_video("plain", yuv, plans, params, fps=fps, qp=q, encoder=encoder, matrix=s.matrix,
                        cache=s.cache, display=(w, h))
        pdata = pack_video_file(pv.to_file())
        plain = {"qp": q, "bytes": len(pdata), "stream_bytes": pv.stream_bytes,
                 "encode_s": round(pv.encode_seconds, 3)}
        if len(pdata) < len(data):  # never larger than plain VVC at the lowest QP it uses
            fallback = {"from": coded.mode, "bytes": len(data), "to": "plain", "plain_bytes": len(pdata)}
            coded, data = pv, pdata
        secs["plain"] = time.perf_counter() - t
    write_bytes_atomic(output, data)
    total = len(data)

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
        check = check_frames([an.detections[i] for i in idx], found, rule, idx)
        kept_at = dict(zip(idx, check.kept))
        secs["check"] = time.perf_counter() - t

    secs["total"] = time.perf_counter() - t_all

    if coded.mode == "intra":
        segments = [{"index": k, "start": u.start, "frames": u.frames, "qp": u.qp, "bytes": len(u.data)}
                    for k, u in enumerate(coded.units)]
    else:
        segs = plan_segments(plans, s.intra_period) if s.mode != "plain" else []
        segments = [{"index": k, "start": u.start, "frames": u.frames, "qp": u.qp, "bytes": len(u.data),
                     "objects": segs[k].objects if segs else None} for k, u in enumerate(coded.units)]
    unit_qp = [u.qp for u in coded.units for _ in range(u.frames)]
    per_frame = [{"frame": s.start + i, "detected": an.detected[i], "found": an.found.get(i),
                  "objects": len(an.detections[i]),
                  "kept": kept_at.get(i), "regions": len(plans[i].regions), "qp": unit_qp[i],
                  "jrd": [int(o.jrd) for o in an.objects[i]] if an.detected[i] and s.mode != "plain" else None}
                 for i in range(len(rgb))]
    r0 = coded.units[0].results[0]
    rec = {**s.to_json(), "detector_info": det.describe(),
           "predictor_info": predictor.describe() if predictor else None, "backend": r0.backend,
           "backend_version": r0.backend_version, "fallback": fallback, **coded.settings}
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
        kept = " ".join(f"{k}/{n}" for k, n in zip(c.kept, c.objects))
        m50 = "n/a" if c.map50 is None or c.map50 != c.map50 else f"{c.map50:.3f}"
        n = r.object_counts()
        lines.append(f"  check on {len(c.kept)} decoded frames: objects kept per frame {kept}; still detected "
                     f"{c.kept_total}/{c.objects_total} (of {n['detected']} detected: {n['to_keep']} at the keep "
                     f"score, {n['lost']} lost), mAP@0.5 {m50} vs the detections on the originals")
    if r.mode == "intra":
        from vcm.pipelines.encode import stock_player_note

        lines.append(stock_player_note())
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)


def run_decode_video(input_path: str | Path, output: str | Path, decoder: str = "pyav"):
    """A vcm video file -> a lossless video (.mkv, FFV1 RGB) or the decoded 10-bit frames (.y4m), with frame
    count, size and frame rate preserved. Returns the vcm.pipelines.decode.DecodeReport of a video file."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.video import decode_video_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.media import frame_names, write_frame_pictures, write_video_lossless, write_y4m
    from vcm.pipelines.decode import DecodeReport

    t0 = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    ext = output.suffix.lower()
    pictures = "%" in output.name
    if pictures:
        frame_names(output, 1)  # a bad pattern is refused before decoding
    elif ext not in OUTPUT_EXTS:
        raise VcmError(f"a video decodes to .mkv (lossless FFV1), .y4m or frame pictures, not "
                       f"{ext or 'no extension'}", path=output,
                       fix=f"name the output e.g. {output.stem}.mkv, or {output.stem}_%04d.png for one picture a frame")
    frames, vf = decode_video_file(input_path, decoder)
    if pictures:
        write_frame_pictures(output, [yuv_to_rgb(f, vf.matrix) for f in frames])
    elif ext == ".y4m":
        write_y4m(output, frames, float(vf.fps))
    else:
        write_video_lossless(output, [yuv_to_rgb(f, vf.matrix) for f in frames], float(vf.fps))
    return DecodeReport(str(input_path), str(output), vf.width, vf.height, vf.matrix, input_path.stat().st_size,
                        round(time.perf_counter() - t0, 3), mode=vf.mode, frames=len(frames), fps=float(vf.fps),
                        units=[{"frames": u.frames, "qp": u.qp, "bytes": len(u.data)} for u in vf.units])


# ------------------------------------------------------------------------------------------------- benchmark
VIDEO_BENCH_MODES = ("frame", "objects", "intra")  # "intra": objects mode on every frame, all-intra


def list_videos(data: Path, limit: int | None = None) -> list[Path]:
    """The videos in DATA (a video file, or a folder: not recursive), sorted by name."""
    if data.is_file():
        vids = [data] if is_video_path(data) else []
    elif data.is_dir():
        vids = sorted(p for p in data.iterdir() if p.is_file() and is_video_path(p) and not p.name.startswith("."))
    else:
        raise VcmError("no such file or folder", path=data, fix="give a video or a folder of videos")
    if not vids:
        raise VcmError("no videos (mp4/mkv/avi/mov/...) here", path=data, fix="give a video or a folder of videos")
    return vids[:limit] if limit else vids


def has_videos_only(data: Path) -> bool:
    """True when DATA is a video, or a folder with videos and no pictures: `vcm benchmark` then runs on video."""
    from vcm.media import PICTURE_EXTS

    if data.is_file():
        return is_video_path(data)
    if not data.is_dir():
        return False
    files = [p for p in data.iterdir() if p.is_file() and not p.name.startswith(".")]
    return any(is_video_path(p) for p in files) and not any(p.suffix.lower() in PICTURE_EXTS for p in files)


def code_and_detect(mode: str, intra: bool, yuv, plans, params, *, fps: float, qp: int | None, encoder, matrix: str,
                    decoder: str, indices: Sequence[int], detector, display, cache: bool = True):
    """One RD point of one clip: code it, decode its file bytes as `vcm decode` does, detect on the sampled
    frames. Returns (file bytes, detections on the sampled decoded frames, encoder seconds, fresh encodes,
    the coded video)."""
    from vcm.coding.video import code_video, decode_units
    from vcm.video_container import pack_video_file

    coded = code_video(mode, yuv, plans, params, fps=fps, qp=qp, intra=intra, encoder=encoder, matrix=matrix,
                       cache=cache, display=display)
    data = pack_video_file(coded.to_file())
    decoded = decode_units(coded.mode, [(u.frames, u.data) for u in coded.units], display[0], display[1], decoder)
    if len(decoded) != len(yuv):
        raise VcmError(f"a coded clip decoded to {len(decoded)} frames, not {len(yuv)}", fix="report this bug")
    dets = detect_decoded(decoded, indices, detector, matrix)
    fresh = sum(u.fresh_encodes for u in coded.units)
    return len(data), dets, coded.encode_seconds, fresh, coded


def run_video_benchmark(cfg, echo=print, *, frames: int = 32, sample: int = 4, intra_period: int = 32,
                        modes: Sequence[str] | None = None, cache: bool = True, start: int = 0):
    """`vcm benchmark` on videos: plain random-access VVC at each QP is the anchor; each video mode (frame,
    objects, intra) with each predictor gives one point per offset. The first `frames` frames of each video are
    coded; every `sample`-th frame (and the last) is detected, on the original (pseudo ground truth, the
    objects the predictors see) and on the decoded video. mAP@0.5 over all sampled frames of all videos per
    point; BD-rate on bpp vs mAP@0.5 against plain random access (vcm.metrics.rd). Returns the
    vcm.pipelines.benchmark.BenchmarkReport (summary.json is its `to_json()`)."""
    from vcm.codec import EncodeParams, create_encoder, rgb_to_yuv
    from vcm.coding.video import analyse, detection_frames, plan_frames
    from vcm.detect import create_detector
    from vcm.fsutil import write_json_atomic
    from vcm.jrd import create_predictor
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import StillDetectedRule, still_detected_all
    from vcm.metrics.rd import PointRow, benchmark_bd, curve_point, rows_by_point, sort_points
    from vcm.pipelines.benchmark import VIDEO_BD, BenchmarkReport, _machine, _versions, write_report
    from vcm.report import write_points_csv

    t0 = time.perf_counter()
    if not cfg.command:
        cfg.command = cfg.command_line() + (f" --frames {frames} --sample {sample} --intra-period {intra_period}"
                                            + (" --intra" if "intra" in (modes or ()) else ""))
    vids = list_videos(cfg.data, cfg.limit)
    modes = [m for m in (modes if modes is not None else cfg.modes) if m != "plain"]
    notes = [f"mode {m} does not apply to video: skipped" for m in modes if m not in VIDEO_BENCH_MODES]
    modes = [m for m in modes if m in VIDEO_BENCH_MODES]
    det = create_detector(cfg.detector, **cfg.detector_options)
    rule = StillDetectedRule.for_detector(det, iou=cfg.iou, keep_score=cfg.keep_score, detect_score=cfg.detect_score)
    encoder = create_encoder(cfg.encoder)
    anchor = create_encoder(cfg.anchor_encoder) if cfg.anchor_encoder else encoder  # --anchor: plain VVC's encoder
    cfg.out.mkdir(parents=True, exist_ok=True)
    preds = {spec: create_predictor(spec, detector=det, rule=rule, bg_qp=(cfg.bg_qps or (51,))[0], margin=cfg.margin,
                                    preset=cfg.preset, encoder=encoder, matrix=cfg.matrix)
             for spec in (cfg.jrd if modes else ())}
    params = EncodeParams(qp=51, preset=cfg.preset, intra=False, intra_period=intra_period)
    rows: list[PointRow] = []
    originals: dict[str, list[Detections]] = {}
    decoded_dets: dict[tuple[str, str], dict[str, list[Detections]]] = {}
    fresh_total = 0
    frames_of: dict[str, int] = {}
    for v in vids:
        key = v.name
        rgb, fps = read_clip(v, start, frames)
        frames_of[key] = len(rgb)
        yuv = [rgb_to_yuv(f, cfg.matrix) for f in rgb]
        h, w = rgb[0].shape[:2]
        idx = detection_frames(len(rgb), sample)
        found = det.detect([rgb[i] for i in idx])
        originals[key] = found
        echo(f"{key}: {len(rgb)} frames {w}x{h} at {fps:g} fps, {sum(map(len, found))} objects on "
             f"{len(idx)} sampled frames")

        def add(mode, predictor, pid, qp, offset, bg, nbytes, dets, secs, plans):
            kept = sum(sum(still_detected_all(o, d, rule)) for o, d in zip(found, dets))
            n_obj = sum(len(o) for o in found)
            qps = [p.min_qp for p in plans] if plans else [qp]
            rows.append(PointRow(key, mode, predictor, pid, qp, offset, bg, w, h, nbytes,
                                 8.0 * nbytes / (w * h * len(rgb)), n_obj, kept, kept / n_obj if n_obj else 1.0,
                                 round(secs, 4), min(qps), max(qps)))
            decoded_dets.setdefault((f"{mode}/{predictor}", pid), {})[key] = dets

        empty = analyse(rgb, det, None, every=sample, detections=found)
        plain_plans = plan_frames(empty, margin=cfg.margin)
        for q in cfg.qps:
            nbytes, dets, secs, fresh, _ = code_and_detect("plain", False, yuv, plain_plans, params, fps=fps, qp=q,
                                                           encoder=anchor, matrix=cfg.matrix, decoder=cfg.decoder,
                                                           indices=idx, detector=det, display=(w, h), cache=cache)
            fresh_total += fresh
            add("plain", "vvc", f"qp{q}", q, None, None, nbytes, dets, secs, None)
        for spec, pred in preds.items():
            an = analyse(rgb, det, pred, every=sample, detections=found)
            for mode in modes:
                for off in cfg.offsets_for(spec):
                    for bg in (cfg.bg_qps or (None,)):
                        plans = plan_frames(an, offset=off, bg_qp=51 if bg is None else bg, margin=cfg.margin)
                        nbytes, dets, secs, fresh, _ = code_and_detect(
                            "objects" if mode == "intra" else mode, mode == "intra", yuv, plans, params, fps=fps,
                            qp=None, encoder=encoder, matrix=cfg.matrix, decoder=cfg.decoder, indices=idx,
                            detector=det, display=(w, h), cache=cache)
                        fresh_total += fresh
                        pid = f"off{off:+d}" + (f"_bg{bg}" if bg is not None else "")
                        add(mode, spec, pid, None, off, bg, nbytes, dets, secs, plans)
    # one RD point per (curve, point): bits over all videos, mAP over all sampled frames of all videos
    keys = [v.name for v in vids]
    gts = [d for k in keys for d in originals[k]]
    points = sort_points([curve_point(rs, pseudo_map(gts, [d for k in keys for d in decoded_dets[cp][k]]), len(gts),
                                      sum(r.width * r.height * frames_of[r.picture] for r in rs))
                          for cp, rs in rows_by_point(rows).items()])
    bd = benchmark_bd(points)
    n_frames = sum(frames_of.values())
    per_frame = {c: round(sum(p.encode_s for p in points if p.curve == c) / sum(p.curve == c for p in points)
                          / n_frames, 4) for c in dict.fromkeys(p.curve for p in points)}
    report = BenchmarkReport(
        {k: bd[k] for k in VIDEO_BD}, len(vids), keys,
        {**cfg.to_json(), "detector": det.spec, "ground_truth": "pseudo (detections on the original sampled frames)",
         "rule": rule.to_json(), "rate": "bpp over all coded frames (whole vcm video file)",
         "accuracy": "COCO mAP@0.5 over all sampled frames at each point", "anchor": "plain random-access VVC"},
        _versions({"name": encoder.name, "version": encoder.version()}, det.describe(),
                  {s: p.describe() for s, p in preds.items()}, {"name": anchor.name, "version": anchor.version()}),
        _machine(), cfg.command or cfg.command_line(),
        {"points_computed": len(points), "points_resumed": 0, "fresh_encodes": fresh_total,
         "seconds": round(time.perf_counter() - t0, 2)},
        points,
        video={"frames": frames, "start": start, "sample": sample, "intra_period": intra_period,
               "modes": ["plain", *modes], "notes": notes, "encode_s_per_frame": per_frame, "frames_coded": n_frames})
    write_points_csv(cfg.out / "points.csv", rows)
    write_json_atomic(cfg.out / "detections.json", {"format": "vcm-video-benchmark-detections/1", "videos": {
        k: {"original": [[d.to_json() for d in f] for f in originals[k]],
            "points": {f"{c}/{p}": [[d.to_json() for d in f] for f in v[k]] for (c, p), v in decoded_dets.items()}}
        for k in keys}})
    write_report(cfg.out, report, title=f"{len(vids)} video(s), {det.spec}, preset {cfg.preset}")
    return report
