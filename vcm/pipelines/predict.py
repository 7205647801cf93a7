"""`vcm predict`: per-object JRD of one picture without writing a coded file.

The objects are those `vcm encode` protects (score >= the keep score of the still-detected rule) and the predictor
is built as `vcm encode` builds it, so `vcm predict`, `vcm encode` and (for `search`) `vcm label` give an object
one JRD. Weaker detections are listed with no JRD."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vcm.settings import CodingSettings


@dataclass
class PredictReport:
    """Every detected object of one picture with its JRD; `to_json()` is `vcm predict --json`."""

    input: str
    width: int
    height: int
    detector: dict[str, Any]  # the detector's describe()
    predictor: dict[str, Any]  # the predictor's describe()
    objects: list[dict[str, Any]]  # box, label, class_id, score, jrd (None: under the keep score), source, info
    seconds: dict[str, float] = field(default_factory=dict)  # detect, predict

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_predict(input_path: str | Path, settings: CodingSettings = CodingSettings(jrd="prior")) -> PredictReport:
    """Detect, predict; the coding settings matter to `search` only (it codes the picture as encode would)."""
    from vcm.codec import read_picture
    from vcm.detect import build_detector
    from vcm.jrd import create_predictor
    from vcm.types import Detections

    t0 = time.perf_counter()
    rgb = read_picture(input_path)
    s = settings.for_media(video=False)  # --jrd auto: the search
    det = build_detector(s)
    rule = s.rule_for(det)
    dets = det.detect([rgb])[0]
    keep_idx = rule.must_keep(dets)
    keep = Detections(dets.width, dets.height, tuple(dets[i] for i in keep_idx))
    t1 = time.perf_counter()
    pred = create_predictor(s.jrd, detector=det, rule=rule, bg_qp=s.background_qps()[0], margin=s.margin,
                            preset=s.preset, encoder=s.encoder, matrix=s.matrix, cache=s.cache)
    jrd_of = dict(zip(keep_idx, pred.predict(rgb, keep, others=dets)))
    t2 = time.perf_counter()
    objects = []
    for i, d in enumerate(dets):
        o = jrd_of.get(i)
        objects.append({"box": [round(float(v), 2) for v in d.box], "label": d.label, "class_id": d.class_id,
                        "score": round(float(d.score), 4), "jrd": None if o is None else int(o.jrd),
                        "source": "below keep score" if o is None else o.source,
                        "info": {"keep_score": rule.keep_score} if o is None else o.info})
    return PredictReport(str(input_path), int(rgb.shape[1]), int(rgb.shape[0]), det.describe(), pred.describe(),
                         objects, {"detect": round(t1 - t0, 3), "predict": round(t2 - t1, 3)})


def format_predictions(r: PredictReport) -> str:
    """What `vcm predict` prints: one line per object with its JRD."""
    lines = [f"{r.input} ({r.width}x{r.height}): {len(r.objects)} objects, "
             f"detector {r.detector.get('detector')}, predictor {r.predictor.get('predictor')}"]
    if r.objects:
        lines.append(f"  {'#':>2}  {'label':<10} {'score':>5}  {'box x1,y1,x2,y2':<25} {'JRD':>3}")
    for i, o in enumerate(r.objects):
        box = ",".join(f"{v:.0f}" for v in o["box"])
        jrd = "-" if o["jrd"] is None else o["jrd"]
        lines.append(f"  {i:>2}  {o['label'][:10]:<10} {o['score']:5.2f}  {box:<25} {jrd:>3}"
                     + ("  (score under the keep score: coded with the background)" if o["jrd"] is None else ""))
    lines.append(f"  time: detect {r.seconds['detect']:.2f} s, predict {r.seconds['predict']:.2f} s")
    return "\n".join(lines)
