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
    flags: list[list[bool]] | None = None  # per checked frame: each object to keep (in order), still detected

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["rule"] = self.rule.to_json() if self.rule is not None else None
        d.pop("flags", None)  # the report's per-frame objects carry them
        return d


def check_frames(originals: Sequence[Detections], decoded: Sequence[Detections], rule,
                 frames_checked: Sequence[int] | None = None) -> FrameCheck:
    """The one measuring rule of coded video (`vcm encode`'s check and `vcm benchmark` alike, as the picture
    benchmark measures pictures): `originals` are EVERY box found on the original frames; the objects to keep
    (score >= the rule's keep score) are the pseudo ground truth, still detected by the rule (a coded box that
    matches a weaker original box is no false box), and the boxes between the detect and the keep score are
    don't-care regions for mAP (a detection there is neither a hit nor a false alarm)."""
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import still_detected_all

    keep = [Detections(o.width, o.height, tuple(d for d in o if rule.keeps(d))) for o in originals]
    dont_care = [Detections(o.width, o.height, tuple(d for d in o if not rule.keeps(d))) for o in originals]
    flags = [still_detected_all(k, d, rule, others=o) for k, o, d in zip(keep, originals, decoded)]
    kept = [sum(f) for f in flags]
    m = pseudo_map(keep, list(decoded), dont_care=dont_care)
    n = sum(len(k) for k in keep)
    return FrameCheck(kept, [len(k) for k in keep], sum(kept), n, sum(kept) / n if n else 1.0, m.map50,
                      m.map50_95, None if frames_checked is None else list(frames_checked), rule, flags)


def run_encode_video(input_path: str | Path, output: str | Path, settings: CodingSettings = CodingSettings(),
                     detector: Any = None, predictors: dict[str, Any] | None = None, *, progress: bool = False,
                     draw: str | Path | None = None) -> VideoReport:
    """Code one video into `output` (written atomically) and report. `detector` and `predictors` (spec ->
    predictor) may be built already (batch workers build them once). `progress`: a bar on stderr. `draw`: a
    folder that gets every detected frame of the written file, decoded, with its objects drawn."""
    from vcm.codec import EncodeParams, create_encoder, rgb_to_yuv
    from vcm.coding.video import analyse, choose_segments, code_video, decode_video_file, plan_frames
    from vcm.container import check_bitstream_name
    from vcm.detect import build_detector
    from vcm.fsutil import refuse_overwrite_input, write_bytes_atomic
    from vcm.jrd import create_predictor
    from vcm.runner import Progress
    from vcm.settings import AUTO
    from vcm.video_container import pack_video_file

    settings.check_for_video()
    s = settings.for_media(video=True)  # --jrd auto: the prior; --bg-qp auto: a segment with no object at 51
    t_all = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    check_bitstream_name(output)
    encoder = create_encoder(s.encoder)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    rgb, fps, yuv = read_clip_yuv(input_path, s.start, s.max_frames, s.matrix)
    yuv = yuv if yuv is not None else [rgb_to_yuv(f, s.matrix) for f in rgb]  # a Y4M is coded as it is
    h, w = rgb[0].shape[:2]
    secs["read"] = time.perf_counter() - t
    from vcm.coding.video import detection_frames

    idx = detection_frames(len(rgb), s.detect_every)
    n_seg = -(-len(rgb) // s.intra_period)
    # steps: detect, predict (a search takes seconds a frame) and check each detected frame, code each segment
    steps = len(idx) * (1 + (s.mode != "plain") + bool(s.check or draw)) + n_seg
    bar = Progress(steps, progress, "step", f"vcm encode {input_path.name}")
    try:
        det = detector if detector is not None else build_detector(s)
        rule = s.rule_for(det)
        predictor = None
        if s.mode != "plain":
            predictors = predictors if predictors is not None else {}
            if s.jrd not in predictors:
                predictors[s.jrd] = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=s.bg_qp, margin=s.margin,
                                                     preset=s.preset, encoder=encoder, matrix=s.matrix, cache=s.cache)
            predictor = predictors[s.jrd]
        found = []
        t = time.perf_counter()
        for k in range(0, len(idx), 8):  # in batches, so the bar moves
            found += det.detect([rgb[i] for i in idx[k:k + 8]])
            for _ in idx[k:k + 8]:
                bar.step("detect")
        an = analyse(rgb, det, predictor, every=s.detect_every, fixed_jrd=s.qp if s.qp is not None else 63, rule=rule,
                     detections=found, progress=(lambda: bar.step("predict")) if predictor is not None else None)
        secs.update(an.seconds)
        secs["detect"] = time.perf_counter() - t - an.seconds["predict"]
        plans = plan_frames(an, offset=s.jrd_offset, bg_qp=s.bg_qp, qp_min=s.qp_min, margin=s.margin)

        t = time.perf_counter()
        params = EncodeParams(qp=s.bg_qp, preset=s.preset, intra=False, intra_period=s.intra_period)
        auto = s.mode == AUTO and not s.intra
        # the final check's detector: boxes down to MAP_SCORE for mAP (judged as `vcm benchmark` judges)
        det_map = map_detector(det, s.detector, s.detector_settings.options()) if s.check else None
        seen: dict[int, Any] = {}  # frame -> the check detector's boxes on the written file, found while coding
        if auto:
            coded, choices = choose_segments(yuv, plans, params, fps=fps, originals=an.originals, detector=det,
                                             rule=rule, offset=s.jrd_offset, encoder=encoder, matrix=s.matrix,
                                             cache=s.cache, display=(w, h), progress=lambda n: bar.step("code"),
                                             judge=det_map)
            seen = {i: f for c in choices for i, f in c.found.items()}
        else:
            coded = code_video("objects" if s.mode == AUTO else s.mode, yuv, plans, params, fps=fps, qp=s.qp,
                               intra=s.intra, encoder=encoder, matrix=s.matrix, cache=s.cache, display=(w, h))
            for _ in range(n_seg):
                bar.step("code")
        data = pack_video_file(coded.to_file())
        secs["encode"] = time.perf_counter() - t
        plain, fallback = None, None
        if s.mode != "plain":  # plain random access at the lowest QP used: the comparison, and the fallback
            t = time.perf_counter()
            q = min(p.min_qp for p in plans) if coded.mode == "intra" else min(u.qp for u in coded.units)
            if auto:  # the plans' own lowest segment QP: what plain coding at the JRDs costs
                from vcm.coding.video import plan_segments

                q = min(sg.qp for sg in plan_segments(plans, s.intra_period))
            pv = code_video("plain", yuv, plans, params, fps=fps, qp=q, encoder=encoder, matrix=s.matrix,
                            cache=s.cache, display=(w, h))
            pdata = pack_video_file(pv.to_file())
            plain = {"qp": q, "bytes": len(pdata), "stream_bytes": pv.stream_bytes,
                     "encode_s": round(pv.encode_seconds, 3)}
            if len(pdata) < len(data):  # never larger than plain VVC at the lowest QP it uses
                fallback = {"from": coded.mode, "bytes": len(data), "to": "plain", "plain_bytes": len(pdata)}
                coded, data, seen = pv, pdata, {}
            secs["plain"] = time.perf_counter() - t
        write_bytes_atomic(output, data)
        total = len(data)

        check = None
        decoded_rgb: dict[int, Any] = {}
        if s.check or draw:
            from vcm.codec import yuv_to_rgb

            t = time.perf_counter()
            decoded, vf = decode_video_file(output)
            if len(decoded) != len(rgb):
                raise VcmError(f"the written file decodes to {len(decoded)} frames, not {len(rgb)}", path=output,
                               fix="report this bug; the encoder or decoder misbehaved")
            decoded_rgb = {i: yuv_to_rgb(decoded[i], s.matrix) for i in idx}
            if s.check:  # judged as `vcm benchmark` judges: boxes down to MAP_SCORE for mAP, the keep rule
                todo = [i for i in idx if i not in seen]  # auto's confirmation detected the others already
                for _ in range(len(idx) - len(todo)):
                    bar.step("check")
                for k in range(0, len(todo), 8):
                    seen.update(zip(todo[k:k + 8], det_map.detect([decoded_rgb[i] for i in todo[k:k + 8]])))
                    for _ in todo[k:k + 8]:
                        bar.step("check")
                check = check_frames([an.originals[i] for i in idx], [seen[i] for i in idx], rule, idx)
            secs["check"] = time.perf_counter() - t
    finally:
        bar.close()
    secs["total"] = time.perf_counter() - t_all

    unit_of = [k for k, u in enumerate(coded.units) for _ in range(u.frames)]
    auto_rec = {a["index"]: a for a in coded.settings.get("auto", [])}
    segments = []
    for k, u in enumerate(coded.units):
        g = {"index": k, "start": u.start, "frames": u.frames, "qp": u.qp, "bytes": len(u.data),
             "mode": coded.mode if coded.mode != "auto" else auto_rec[k]["chosen"][0]}
        if k in auto_rec:
            g["start_qp"] = auto_rec[k]["start_qp"]
            g["tried"] = auto_rec[k]["tried"]  # (mode, QP, bytes, kept on the check frames)
            for key in ("check_frames", "confirmed", "target"):
                g[key] = auto_rec[k][key]
        segments.append(g)
    flags = dict(zip(idx, check.flags)) if check is not None else {}
    per_frame = []
    for i in range(len(rgb)):
        rec = {"frame": s.start + i, "detected": an.detected[i], "found": an.found.get(i),
               "objects": len(an.detections[i]) if an.detected[i] else 0,
               "kept": sum(flags[i]) if i in flags else None, "regions": len(plans[i].regions),
               "qp": coded.units[unit_of[i]].qp}
        if an.detected[i]:
            rec["boxes"] = frame_objects(an, i, rule, flags.get(i), coded.units[unit_of[i]].qp, s.mode == "plain")
        per_frame.append(rec)
    if draw:
        write_drawn_frames(Path(draw), {s.start + i: decoded_rgb[i] for i in idx},
                           {s.start + i: per_frame[i]["boxes"] for i in idx})
    r0 = coded.units[0].results[0]
    rec = {**s.to_json(), "detector_info": det.describe(),
           "predictor_info": predictor.describe() if predictor else None, "backend": r0.backend,
           "backend_version": r0.backend_version, "fallback": fallback, "rule_text": rule.describe(),
           **{k: v for k, v in coded.settings.items() if k != "auto"}}
    return VideoReport(coded.mode, str(input_path), str(output), w, h, len(rgb), float(fps), total, segments,
                       per_frame, check, plain, rec, {k: round(v, 3) for k, v in secs.items()})


def frame_objects(an, i: int, rule, flags: list[bool] | None, qp: int, plain: bool) -> list[dict[str, Any]]:
    """Every box found on detected frame `i` as `vcm encode`'s picture report lists objects (box, label, score,
    JRD, QP, kept, still detected): what --draw draws and --json lists."""
    jrd = {(tuple(o.detection.box), o.detection.class_id): int(o.jrd) for o in an.objects[i]}
    k = 0
    out = []
    for d in an.originals[i]:
        keep = rule.keeps(d)
        still = None
        if keep and flags is not None:
            still, k = flags[k], k + 1
        j = jrd.get((tuple(d.box), d.class_id))
        out.append({"box": [round(float(v), 2) for v in d.box], "label": d.label, "class_id": d.class_id,
                    "score": round(float(d.score), 4), "jrd": None if plain else j, "qp": qp,
                    "kept": keep and (plain or j is not None),
                    "status": "below keep score" if not keep else "not protectable" if j is None and not plain
                    else "protected", "still_detected": still})
    return out


def write_drawn_frames(folder: Path, frames: dict[int, Any], objects: dict[int, list[dict[str, Any]]]) -> None:
    """`--draw DIR` for a video: DIR/frame_NNNN.png per detected frame, its objects drawn as for pictures."""
    from vcm.detect.draw import draw_coded_objects
    from vcm.media import write_picture

    folder.mkdir(parents=True, exist_ok=True)
    for i, rgb in frames.items():
        write_picture(folder / f"frame_{i:04d}.png", draw_coded_objects(rgb, objects[i]))


def protected_by_class(r: "VideoReport") -> dict[str, int]:
    """Objects protected per class: distinct tracks (boxes linked between detected frames) at the keep score."""
    from vcm.coding.video import link_tracks
    from vcm.types import Detection

    frames = [f for f in r.per_frame if f["detected"]]
    dets = [Detections(r.width, r.height, tuple(Detection.from_json({k: b[k] for k in ("box", "label", "class_id",
                                                                                       "score")})
                                                for b in f.get("boxes", ()) if b["kept"])) for f in frames]
    seen: dict[str, set[int]] = {}
    for d, ids in zip(dets, link_tracks(dets)):
        for x, t in zip(d, ids):
            seen.setdefault(x.label, set()).add(t)
    return {k: len(v) for k, v in sorted(seen.items(), key=lambda kv: -len(kv[1]))}


def format_video_report(r: VideoReport) -> str:
    """The printed summary of `vcm encode VIDEO`: a few readable lines (every number is in --json)."""
    s = r.settings
    head = (f"{r.input} ({r.width}x{r.height}, {r.frames} frames at {r.fps:g} fps) -> {r.output}   mode "
            f"{r.mode}, detector {s['detector']}, ")
    head += f"QP {s['qp']}" if r.mode == "plain" else (f"jrd {s['jrd']} (offset {s['jrd_offset']:+d}), "
                                                       f"background QP {s['bg_qp']}")
    lines = [head + f", preset {s['preset']}, intra period {s['intra_period']}"]
    n = r.object_counts()
    if r.mode != "plain":
        cls = protected_by_class(r)
        what = ", ".join(f"{k} {v}" for k, v in cls.items()) or "none"
        lines.append(f"  objects protected (tracks at the keep score): {what}; {n['to_keep']} boxes on "
                     f"{sum(f['detected'] for f in r.per_frame)} detected frames, {n['detected'] - n['to_keep']} "
                     f"weaker boxes coded with the background")
    if r.mode == "intra":
        qps = [g["qp"] for g in r.segments]
        lines.append(f"  {len(r.segments)} all-intra pictures, background QP {min(qps)}-{max(qps)}")
    else:
        segs = [f"{g['start']}-{g['start'] + g['frames'] - 1} {g['mode']}@{g['qp']}"
                + (f" (plan {g['start_qp']})" if "start_qp" in g else "") + f" {g['bytes']:,} B" for g in r.segments]
        more = f", ... ({len(segs)} segments)" if len(segs) > 6 else ""
        lines.append("  segments: " + ", ".join(segs[:6]) + more)
    line = f"  total {r.total_bytes:,} bytes = {8 * r.total_bytes:,} bits, {r.kbps:.1f} kbps"
    if r.plain:
        p = r.plain
        line += (f"   | plain random-access VVC at QP {p['qp']}: {p['bytes']:,} bytes "
                 f"({100.0 * r.total_bytes / max(1, p['bytes']):.1f} % of it)")
    lines.append(line)
    if s.get("fallback"):
        lines.append(f"  {s['fallback']['from']} came to {s['fallback']['bytes']:,} bytes: plain written instead")
    if r.check:
        c = r.check
        m50 = "n/a" if c.map50 is None or c.map50 != c.map50 else f"{c.map50:.3f}"
        lost = [f["frame"] for f in r.per_frame if f["kept"] is not None and f["kept"] < f["objects"]]
        lines.append(f"  check on {len(c.kept)} decoded frames: kept {c.kept_total}/{c.objects_total} objects "
                     f"({s.get('rule_text', 'the keep rule')}), mAP@0.5 {m50}"
                     + (f"; frames losing one: {', '.join(map(str, lost[:8]))}{' ...' if len(lost) > 8 else ''}"
                        if lost else ""))
    if r.mode == "intra":
        from vcm.pipelines.encode import stock_player_note

        lines.append(stock_player_note())
    lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)


def run_decode_video(input_path: str | Path, output: str | Path | None, decoder: str = "pyav"):
    """A vcm video file -> a lossless video (.mkv, FFV1 RGB), the decoded 10-bit frames (.y4m) or one picture a
    frame, with frame count, size and frame rate preserved (`output=None`: nothing written, the Python API).
    Returns the vcm.pipelines.decode.DecodeReport of a video file: `pictures` holds every frame (RGB uint8),
    `picture` the first."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.video import decode_video_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.media import frame_names, write_frame_pictures, write_video_lossless, write_y4m
    from vcm.pipelines.decode import DecodeReport

    t0 = time.perf_counter()
    input_path = Path(input_path)
    pictures = ext = None
    if output is not None:
        output = Path(output)
        refuse_overwrite_input(output, input_path)
        ext = output.suffix.lower()
        pictures = "%" in output.name
        if pictures:
            frame_names(output, 1)  # a bad pattern is refused before decoding
        elif ext not in OUTPUT_EXTS:
            raise VcmError(f"a video decodes to .mkv (lossless FFV1), .y4m or frame pictures, not "
                           f"{ext or 'no extension'}", path=output,
                           fix=f"name the output e.g. {output.stem}.mkv, or {output.stem}_%04d.png for one picture "
                               f"a frame")
    frames, vf = decode_video_file(input_path, decoder)
    rgb = [yuv_to_rgb(f, vf.matrix) for f in frames]
    if output is None:
        pass
    elif pictures:
        write_frame_pictures(output, rgb)
    elif ext == ".y4m":
        write_y4m(output, frames, float(vf.fps))
    else:
        write_video_lossless(output, rgb, float(vf.fps))
    return DecodeReport(str(input_path), None if output is None else str(output), vf.width, vf.height, vf.matrix,
                        input_path.stat().st_size, round(time.perf_counter() - t0, 3), mode=vf.mode,
                        frames=len(frames), fps=float(vf.fps),
                        units=[{"frames": u.frames, "qp": u.qp, "bytes": len(u.data)} for u in vf.units],
                        picture=rgb[0], pictures=rgb)


# ------------------------------------------------------------------------------------------------- benchmark
VIDEO_BENCH_MODES = ("frame", "objects", "ctu", "auto", "intra")  # "intra": objects mode on every frame, all-intra
UVG266_PLAIN = "uvg266"  # the predictor name of plain uvg266's curve (plain/uvg266), run beside ctu mode


def map_detector(det, spec: str, options: dict[str, Any]):
    """The detector run on decoded frames: `det`, with boxes down to the picture benchmark's MAP_SCORE where its
    confidence is a filter the user did not set (COCO practice; the keep rule's detect score still applies)."""
    from vcm.detect import create_detector
    from vcm.pipelines.benchmark import MAP_SCORE

    if getattr(det, "conf_is_a_filter", False) and "conf" not in options:
        return create_detector(spec, **{**options, "conf": MAP_SCORE})
    return det


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
    """One RD point of one clip: code it, then `measure_coded`. Returns (file bytes, detections on the sampled
    decoded frames, encoder seconds, fresh encodes, the coded video)."""
    from vcm.coding.video import code_video

    coded = code_video(mode, yuv, plans, params, fps=fps, qp=qp, intra=intra, encoder=encoder, matrix=matrix,
                       cache=cache, display=display)
    return measure_coded(coded, indices, detector, matrix, decoder, len(yuv))


def measure_coded(coded, indices: Sequence[int], detector, matrix: str, decoder: str, frames: int | None = None):
    """(file bytes, detections on the sampled decoded frames, encoder seconds, fresh encodes, coded) of a coded
    video, decoded from its file bytes as `vcm decode` does."""
    from vcm.coding.video import decode_units
    from vcm.video_container import pack_video_file

    data = pack_video_file(coded.to_file())
    decoded = decode_units(coded.mode, [(u.frames, u.data) for u in coded.units], coded.width, coded.height, decoder)
    if len(decoded) != (coded.frames if frames is None else frames):
        raise VcmError(f"a coded clip decoded to {len(decoded)} frames, not {coded.frames}", fix="report this bug")
    dets = detect_decoded(decoded, indices, detector, matrix)
    return len(data), dets, coded.encode_seconds, sum(u.fresh_encodes for u in coded.units), coded


def run_video_benchmark(cfg, echo=print, *, frames: int = 32, sample: int = 4, intra_period: int = 32,
                        modes: Sequence[str] | None = None, cache: bool = True, start: int = 0):
    """`vcm benchmark` on videos, with the picture benchmark's measuring and point rules: plain random-access
    VVC at each QP is the anchor (and plain uvg266 beside `ctu`, so that encoder's own gap shows); each video mode
    (VIDEO_BENCH_MODES; any other is a VcmError) with each predictor gives one point per offset. The first
    `frames` frames of each video are coded; every `sample`-th frame (and the last) is detected, on the original
    (the boxes at the keep score are the pseudo ground truth and what the predictors see; weaker ones are
    don't-care regions) and on the decoded video (boxes down to MAP_SCORE for mAP). Kept counts and mAP come from
    `check_frames`, the rule `vcm encode`'s check uses. Rounds as for pictures: the fixed:Q baseline (Q the
    median JRD) and the offsets / anchor QPs `span_points` asks for are added until every curve spans the anchor.
    Returns the vcm.pipelines.benchmark.BenchmarkReport (summary.json is its `to_json()`)."""
    from vcm.codec import EncodeParams, create_encoder, rgb_to_yuv
    from vcm.coding.video import analyse, ctu_encoder_for, detection_frames, plan_frames
    from vcm.detect import create_detector
    from vcm.fsutil import write_json_atomic
    from vcm.jrd import create_predictor
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.match import StillDetectedRule
    from vcm.metrics.rd import PointRow, benchmark_bd, curve_point, rows_by_point, sort_points
    from vcm.pipelines.benchmark import (MAX_ROUNDS, VIDEO_BD, BenchmarkReport, _machine, _versions, anchor_encoder,
                                         next_points, point_id, write_report)
    from vcm.report import write_points_csv

    t0 = time.perf_counter()
    modes = [m for m in (modes if modes is not None else cfg.modes) if m != "plain"]
    bad = [m for m in modes if m not in VIDEO_BENCH_MODES]
    if bad:
        raise VcmError(f"mode {bad[0]} does not apply to video", path=cfg.data,
                       fix=f"use --modes plain,{','.join(m for m in VIDEO_BENCH_MODES if m != 'intra')} "
                           f"(and --intra for all-intra objects mode)")
    if not cfg.command:
        cfg.command = cfg.command_line() + (f" --frames {frames} --sample {sample} --intra-period {intra_period}"
                                            + (" --intra" if "intra" in modes else ""))
    vids = list_videos(cfg.data, cfg.limit)
    det = create_detector(cfg.detector, **cfg.detector_options)
    det_map = map_detector(det, cfg.detector, cfg.detector_options)
    rule = StillDetectedRule.for_detector(det, iou=cfg.iou, keep_score=cfg.keep_score, detect_score=cfg.detect_score,
                                          rank=cfg.rank)
    encoder = create_encoder(cfg.encoder)
    anchor = anchor_encoder(cfg, encoder)  # --anchor: plain VVC's encoder
    ctu_enc = ctu_encoder_for(cfg.encoder) if "ctu" in modes else None  # no uvg266/VTM: an error before coding
    cfg.out.mkdir(parents=True, exist_ok=True)
    preds: dict[str, Any] = {}

    def predictor(spec: str):
        if spec not in preds:
            preds[spec] = create_predictor(spec, detector=det, rule=rule, bg_qp=(cfg.bg_qps or (51,))[0],
                                           margin=cfg.margin, preset=cfg.preset, encoder=encoder, matrix=cfg.matrix)
        return preds[spec]

    for spec in cfg.jrd if modes else ():
        predictor(spec)  # a bad spec fails before any coding
    params = EncodeParams(qp=51, preset=cfg.preset, intra=False, intra_period=intra_period)
    clips: dict[str, dict[str, Any]] = {}
    for v in vids:
        rgb, fps = read_clip(v, start, frames)
        idx = detection_frames(len(rgb), sample)
        found = det.detect([rgb[i] for i in idx])
        h, w = rgb[0].shape[:2]
        clips[v.name] = {"rgb": rgb, "yuv": [rgb_to_yuv(f, cfg.matrix) for f in rgb], "fps": fps, "idx": idx,
                         "found": found, "w": w, "h": h, "analyses": {}}
        n_keep = sum(1 for f in found for d in f if rule.keeps(d))
        echo(f"{v.name}: {len(rgb)} frames {w}x{h} at {fps:g} fps, {n_keep} objects at the keep score "
             f"({sum(map(len, found))} boxes) on {len(idx)} sampled frames")
    done: dict[tuple[str, str, str], tuple[PointRow, list[Detections]]] = {}
    fresh_total = 0

    def point(key: str, mode: str, pred: str, pid: str, qp, offset, bg, compute, extra=None) -> None:
        nonlocal fresh_total
        if (key, f"{mode}/{pred}", pid) in done:
            return
        c = clips[key]
        nbytes, dets, secs, fresh, coded = compute()
        fresh_total += fresh
        chk = check_frames(c["found"], dets, rule)
        qps = [u.qp for u in coded.units]
        chosen = None
        if coded.mode == "auto":
            chosen = " ".join(f"{a['chosen'][0]}@{a['chosen'][1]}" for a in coded.settings["auto"])
        row = PointRow(key, mode, pred, pid, qp, offset, bg, c["w"], c["h"], nbytes,
                       8.0 * nbytes / (c["w"] * c["h"] * len(c["rgb"])), chk.objects_total, chk.kept_total,
                       chk.kept_fraction, round(secs, 4), min(qps), max(qps), chosen=chosen, **(extra or {}))
        done[(key, f"{mode}/{pred}", pid)] = (row, dets)

    def analysis(key: str, spec: str):
        c = clips[key]
        if spec not in c["analyses"]:
            c["analyses"][spec] = analyse(c["rgb"], det, predictor(spec), every=sample, detections=c["found"],
                                          rule=rule)
        return c["analyses"][spec]

    def coded_point(key: str, mode: str, intra: bool, plans, qp, enc):
        c = clips[key]
        return code_and_detect(mode, intra, c["yuv"], plans, params, fps=c["fps"], qp=qp, encoder=enc,
                               matrix=cfg.matrix, decoder=cfg.decoder, indices=c["idx"], detector=det_map,
                               display=(c["w"], c["h"]), cache=cache)

    def auto_point(key: str, plans, offset: int):
        from vcm.coding.video import choose_segments

        c = clips[key]
        coded, _ = choose_segments(c["yuv"], plans, params, fps=c["fps"], originals=dict(zip(c["idx"], c["found"])),
                                   detector=det, rule=rule, offset=offset, encoder=encoder, matrix=cfg.matrix,
                                   cache=cache, display=(c["w"], c["h"]), decoder=cfg.decoder)
        return measure_coded(coded, c["idx"], det_map, cfg.matrix, cfg.decoder)

    rounds: list[dict[str, Any]] = []
    added = ["the given points"]
    points = []
    for rnd in range(1, MAX_ROUNDS + 1):
        echo(f"round {rnd}: {'; '.join(added)}")
        for key, c in clips.items():
            plain_plans = plan_frames(analyse(c["rgb"], det, None, every=sample, detections=c["found"]),
                                      margin=cfg.margin)
            for q in cfg.all_qps:
                point(key, "plain", "vvc", f"qp{q}", q, None, None,
                      lambda q=q: coded_point(key, "plain", False, plain_plans, q, anchor))
                if ctu_enc is not None:
                    point(key, "plain", UVG266_PLAIN if ctu_enc.name == "uvg266" else ctu_enc.name, f"qp{q}", q,
                          None, None, lambda q=q: coded_point(key, "plain", False, plain_plans, q, ctu_enc))
            for spec in cfg.jrd if modes else ():
                an = analysis(key, spec)
                for mode in modes:
                    for off, floor in cfg.points_for(spec):
                        for bg in (cfg.bg_qps if cfg.bg_qps and mode in ("objects", "frame") else (None,)):
                            plans = plan_frames(an, offset=off, bg_qp=51 if bg is None else bg, margin=cfg.margin,
                                                qp_min=floor or 0)
                            floor_kw = {"qp_min": floor} if floor is not None else {}
                            pid = point_id(mode, offset=off, bg_qp=bg, **floor_kw)
                            if mode == "auto":
                                compute = (lambda plans=plans, off=off: auto_point(key, plans, off))
                            else:
                                compute = (lambda plans=plans, mode=mode: coded_point(
                                    key, "objects" if mode == "intra" else mode, mode == "intra", plans, None,
                                    ctu_enc if mode == "ctu" else encoder))
                            point(key, mode, spec, pid, None, off, bg, compute, floor_kw)
        points = _video_points(clips, done, rule)
        rounds.append({"round": rnd, "added": added})
        if not (modes and cfg.span) or rnd == MAX_ROUNDS:
            break
        added = next_points(points, cfg, {sp: [int(o.jrd) for c in clips.values()
                                               for objs in analysis_objects(c, sp) for o in objs] for sp in cfg.jrd},
                            gives_up=False, backgrounds=False)  # video codes hopeless objects at the floor
        # (vcm.coding.video.plan_frames) and has no finer-background points
        for sp in cfg.jrd:
            predictor(sp)  # the baseline's, built (and checked) here
        if not added:
            break
    rows = [r for r, _ in done.values()]
    bd = benchmark_bd(points)
    keys = list(clips)
    n_frames = sum(len(c["rgb"]) for c in clips.values())
    per_frame = {c: round(sum(p.encode_s for p in points if p.curve == c) / sum(p.curve == c for p in points)
                          / n_frames, 4) for c in dict.fromkeys(p.curve for p in points)}
    enc_desc = {"name": encoder.name, "version": encoder.version()}
    report = BenchmarkReport(
        {k: bd[k] for k in VIDEO_BD}, len(vids), keys,
        {**cfg.to_json(), "detector": det.spec,
         "ground_truth": "pseudo (detections on the original sampled frames at the keep score; boxes between the "
                         "detect and keep score are don't-care regions)",
         "rule": rule.to_json(), "rule_text": rule.describe(), "rate": "bpp over all coded frames (whole vcm video file)",
         "accuracy": "COCO mAP@0.5 over all sampled frames at each point", "anchor": "plain random-access VVC",
         "rounds": rounds},
        _versions(enc_desc, det.describe(), {s: p.describe() for s, p in preds.items()},
                  {"name": anchor.name, "version": anchor.version()}),
        _machine(), cfg.command or cfg.command_line(),
        {"points_computed": len(rows), "points_resumed": 0, "fresh_encodes": fresh_total, "rounds": len(rounds),
         "seconds": round(time.perf_counter() - t0, 2)},
        points,
        video={"frames": frames, "start": start, "sample": sample, "intra_period": intra_period,
               "modes": ["plain", *modes], "encode_s_per_frame": per_frame, "frames_coded": n_frames,
               "ctu_encoder": ctu_enc.version() if ctu_enc is not None else None})
    write_points_csv(cfg.out / "points.csv", rows)
    write_json_atomic(cfg.out / "detections.json", {"format": "vcm-video-benchmark-detections/2", "videos": {
        k: {"original": [[d.to_json() for d in f if rule.keeps(d)] for f in clips[k]["found"]],
            "dont_care": [[d.to_json() for d in f if not rule.keeps(d)] for f in clips[k]["found"]],
            "points": {f"{cv}/{pid}": [[d.to_json() for d in f] for f in dets]
                       for (kk, cv, pid), (_, dets) in done.items() if kk == k}}
        for k in keys}})
    write_report(cfg.out, report, title=f"{len(vids)} video(s), {det.spec}, preset {cfg.preset}")
    return report


def analysis_objects(clip: dict[str, Any], spec: str) -> list:
    """The objects (with JRDs) of a clip's detected frames under predictor `spec`, where it was analysed."""
    an = clip["analyses"].get(spec)
    return [] if an is None else [an.objects[i] for i in an.detected_indices]


def _video_points(clips: dict[str, dict[str, Any]], done: dict, rule) -> list:
    """One curve point per (curve, point): bits over all videos, mAP over all sampled frames of all videos
    (the keep-score boxes as ground truth, weaker ones don't-care: check_frames' rule)."""
    from vcm.metrics.map import pseudo_map
    from vcm.metrics.rd import curve_point, rows_by_point, sort_points

    rows = [r for r, _ in done.values()]
    dets_of = {(k, cv, pid): d for (k, cv, pid), (_, d) in done.items()}
    gts, dcs = [], []
    for c in clips.values():
        gts += [Detections(f.width, f.height, tuple(d for d in f if rule.keeps(d))) for f in c["found"]]
        dcs += [Detections(f.width, f.height, tuple(d for d in f if not rule.keeps(d))) for f in c["found"]]
    out = []
    for (cv, pid), rs in rows_by_point(rows).items():
        if {r.picture for r in rs} != set(clips):
            continue
        decoded = [d for k in clips for d in dets_of[(k, cv, pid)]]
        out.append(curve_point(rs, pseudo_map(gts, decoded, dont_care=dcs), len(gts),
                               sum(r.width * r.height * len(clips[r.picture]["rgb"]) for r in rs)))
    return sort_points(out)
