"""Would merging touching or overlapping object crops into one stream save bytes? (issue 12, section 2)

On the bundled pictures (`vcm.bundled.bundled_pictures`), with nanodet and the keep rule, JRDs from `prior`
(or `search`), the plan at background QP 63 (what `--bg-qp auto` writes most): `objects` mode as it is, against
the same plan with touching or overlapping crops merged greedily. Two crops merge into their bounding box at the
lower QP when their QPs differ by at most --tolerance and the merged crop, coded, is smaller than the two
coded apart (--rule bytes), or when the box is estimated to cost no more (--rule estimate: area halved every 6
QPs, what `objects` mode does, `QPPlan.object_streams`, coding nothing to decide); the merged plan is then coded in full (background filled
under the merged boxes) and checked like a candidate of `--mode auto` (every kept object still detected, no false
detection on the decoded picture). The baseline is `objects` mode with merging off (tolerance -1).

    python tools/bench_merge.py --tolerances 0,3,6,63
    python tools/bench_merge.py --jrd search --tolerances 0,6
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def merge_by_bytes(regions, tolerance: int, size_of):
    """The experiment's greedy rule: merge the touching pair (QPs within `tolerance`) whose bounding box at the
    lower QP, coded, saves most bytes against the two coded apart, while any pair saves; `size_of` codes."""
    from vcm.qp import QPRegion, bounding_box, rects_touch

    regions, merges = list(regions), 0
    while True:
        best = None
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                a, b = regions[i], regions[j]
                if not rects_touch(a.rect, b.rect) or abs(a.qp - b.qp) > tolerance:
                    continue
                m = QPRegion(min(a.index, b.index), bounding_box(a.rect, b.rect), min(a.qp, b.qp), min(a.jrd, b.jrd))
                saved = size_of(a) + size_of(b) - size_of(m)
                if saved > 0 and (best is None or saved > best[0]):
                    best = (saved, i, j, m)
        if best is None:
            return regions, merges
        _, i, j, m = best
        regions = [r for k, r in enumerate(regions) if k not in (i, j)] + [m]
        merges += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tolerances", default="0,3,6,63", help="QP differences allowed inside one merged stream")
    ap.add_argument("--jrd", default="prior", help="JRD predictor: prior or search")
    ap.add_argument("--bg-qp", type=int, default=63)
    ap.add_argument("--set", default="default", help="bundled set: default (54 pictures) or large")
    ap.add_argument("--rule", choices=("bytes", "estimate"), default="bytes",
                    help="merge when the coded merged crop is smaller (bytes) or estimated not larger (estimate)")
    args = ap.parse_args(argv)
    tolerances = [int(t) for t in args.tolerances.split(",")]

    from vcm.bundled import bundled_pictures
    from vcm.codec import EncodeParams, encode_crops, read_picture, rgb_to_yuv
    from vcm.coding.choose import Candidate, check_candidate, file_bytes
    from vcm.coding.modes import code_picture_mode
    from vcm.detect import build_detector
    from vcm.jrd import create_predictor
    from vcm.qp import QPPlan, plan, rects_touch
    from vcm.settings import CodingSettings

    s = CodingSettings()
    det = build_detector(s)
    rule = s.rule_for(det)
    params = EncodeParams(qp=args.bg_qp, preset=s.preset)
    t0 = time.perf_counter()
    rows, totals = [], {t: [0, 0, 0, 0, 0] for t in tolerances}  # bytes before, after, merges, kept before, after
    for pic in bundled_pictures(args.set):
        rgb = read_picture(pic.path())
        dets = det.detect([rgb])[0]
        keep = [dets[i] for i in rule.must_keep(dets)]
        if len(keep) < 2:
            continue
        h, w = rgb.shape[:2]
        frame = rgb_to_yuv(rgb, s.matrix)
        predictor = create_predictor(args.jrd, detector=det, rule=rule, bg_qp=args.bg_qp, margin=s.margin,
                                     preset=s.preset, matrix=s.matrix)
        from vcm.types import Detections

        objs = predictor.predict(rgb, Detections(w, h, tuple(keep)))
        objs = [o for o in objs if not o.info.get("never_detected")]
        protect = [o.detection for o in objs]
        base = plan(objs, w, h, bg_qp=args.bg_qp, margin=s.margin)
        regions = base.object_regions()
        if not any(rects_touch(a.rect, b.rect) for k, a in enumerate(regions) for b in regions[k + 1:]):
            continue
        sizes: dict = {}

        def size_of(r):
            key = (r.rect, r.qp)
            if key not in sizes:
                sizes[key] = encode_crops(frame, [r.rect], [EncodeParams(qp=r.qp, preset=s.preset)])[0].bytes
            return sizes[key]

        check = dict(detector=det, rule=rule, protect=protect, original=dets, matrix=s.matrix)

        def coded(p, tolerance):
            c = code_picture_mode("objects", frame, p, params, display=(w, h), merge_tolerance=tolerance)
            return check_candidate(Candidate("objects", "objects", p.bg_qp, c, file_bytes(c)), **check)

        before = coded(base, -1)
        for t in tolerances:
            if args.rule == "estimate":
                after = coded(base, t)
                n = len(regions) - (len(after.coded.streams) - 1)
                merged = after.coded.streams[1:]
            else:
                merged, n = merge_by_bytes(regions, t, size_of)
                after = before
                if n:
                    mplan = QPPlan(base.width, base.height, base.bg_qp, tuple(merged) + tuple(
                        r for r in base.regions if r.qp >= base.bg_qp), base.offset, base.qp_min, base.margin,
                        base.align)
                    after = coded(mplan, -1)
            tot = totals[t]
            tot[0] += before.bytes
            tot[1] += after.bytes
            tot[2] += n
            tot[3] += before.passed
            tot[4] += after.passed
            rows.append((pic.name, t, len(regions), len(merged), before.bytes, after.bytes,
                         f"{sum(before.kept)}/{len(before.kept)}", f"{sum(after.kept)}/{len(after.kept)}",
                         before.false_detections, after.false_detections))
    print("| picture | tolerance | crops | after merge | bytes | merged bytes | kept | merged kept | false det. "
          "| merged false det. |")
    print("|---|---:|---:|---:|---:|---:|---|---|---:|---:|")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r) + " |")
    print()
    print("| tolerance | merges | bytes (objects mode) | merged | change | candidates passing | merged passing |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t, (b, a, n, pb, pa) in totals.items():
        print(f"| {t} | {n} | {b} | {a} | {100.0 * (a - b) / b if b else 0:+.1f} % | {pb} | {pa} |")
    print(f"\n(--set {args.set}, --jrd {args.jrd}, --rule {args.rule}, background QP {args.bg_qp}, "
          f"{len({r[0] for r in rows})} pictures with touching crops, {time.perf_counter() - t0:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
