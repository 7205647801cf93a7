"""`vcm predict`: per-object JRD of one picture without writing a coded file."""
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
    objects: list[dict[str, Any]]  # box, label, class_id, score, jrd, source, info
    seconds: dict[str, float] = field(default_factory=dict)  # detect, predict

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_predict(input_path: str | Path, settings: CodingSettings = CodingSettings(jrd="prior")) -> PredictReport:
    """Detect, predict; the coding settings matter to `search` only (it codes the picture as encode would)."""
    from vcm.codec import read_picture
    from vcm.detect import build_detector
    from vcm.jrd import create_predictor

    t0 = time.perf_counter()
    rgb = read_picture(input_path)
    s = settings
    det = build_detector(s)
    dets = det.detect([rgb])[0]
    t1 = time.perf_counter()
    pred = create_predictor(s.jrd, detector=det, bg_qp=s.background_qps()[0], margin=s.margin, preset=s.preset, encoder=s.encoder,
                            matrix=s.matrix, cache=s.cache)
    objs = pred.predict(rgb, dets)
    t2 = time.perf_counter()
    return PredictReport(
        str(input_path), int(rgb.shape[1]), int(rgb.shape[0]), det.describe(), pred.describe(),
        [{"box": [round(float(v), 2) for v in o.detection.box], "label": o.detection.label,
          "class_id": o.detection.class_id, "score": round(float(o.detection.score), 4), "jrd": int(o.jrd),
          "source": o.source, "info": o.info} for o in objs],
        {"detect": round(t1 - t0, 3), "predict": round(t2 - t1, 3)})


def format_predictions(r: PredictReport) -> str:
    """What `vcm predict` prints: one line per object with its JRD."""
    lines = [f"{r.input} ({r.width}x{r.height}): {len(r.objects)} objects, "
             f"detector {r.detector.get('detector')}, predictor {r.predictor.get('predictor')}"]
    if r.objects:
        lines.append(f"  {'#':>2}  {'label':<10} {'score':>5}  {'box x1,y1,x2,y2':<25} {'JRD':>3}")
    for i, o in enumerate(r.objects):
        box = ",".join(f"{v:.0f}" for v in o["box"])
        lines.append(f"  {i:>2}  {o['label'][:10]:<10} {o['score']:5.2f}  {box:<25} {o['jrd']:>3}")
    lines.append(f"  time: detect {r.seconds['detect']:.2f} s, predict {r.seconds['predict']:.2f} s")
    return "\n".join(lines)
