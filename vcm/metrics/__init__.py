"""Machine-side metrics: the "still detected" rule, COCO mAP and Bjontegaard deltas.

Submodules are imported lazily by their users (`vcm.metrics.map` pulls in pycocotools); the rule is
re-exported here because every stage of vcm uses it.
"""
from vcm.metrics.match import (StillDetectedRule, best_match_iou, iou, iou_matrix, still_detected,
                               still_detected_all)

__all__ = ["StillDetectedRule", "best_match_iou", "iou", "iou_matrix", "still_detected", "still_detected_all"]
