"""`vcm detect`: run a detector on pictures; write detections JSON, COCO pseudo ground truth, drawn pictures.

The detector options are the shared ones of vcm/cli/options.py (`@detector_options`), as on every command
that detects.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from vcm.cli.options import detector_options, pop_detector
from vcm.cli.numbers import Number


def _unique_names(paths: list[Path]) -> list[str]:
    """Stems for --draw outputs, made unique when two inputs share a name."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        n = seen.get(p.stem, 0)
        seen[p.stem] = n + 1
        out.append(p.stem if n == 0 else f"{p.stem}_{n}")
    return out


@click.command("detect")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@detector_options
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help='Write {"images": [{"file", "width", "height", "detections": [...]}]} here ("-": stdout).')
@click.option("--coco", "coco_path", type=click.Path(dir_okay=False),
              help="Write the detections as COCO results (pycocotools loadRes: image ids 1..N in argument order, "
                   "COCO category ids).")
@click.option("--coco-gt", "coco_gt_path", type=click.Path(dir_okay=False),
              help="Write the detections as COCO instances JSON: pseudo ground truth for `vcm map --gt`.")
@click.option("--draw", "draw_dir", type=click.Path(file_okay=False),
              help="Write each picture with its boxes drawn to DIR/<name>.png.")
@click.option("--batch", type=Number(int, 1, 4096), default=8, show_default=True, help="Pictures per detector call.")
def detect(images, json_path, coco_path, coco_gt_path, draw_dir, batch, **det_opts):
    """Find objects in pictures with a detector.

    \b
    Examples:
      vcm detect bus.jpg --json bus_det.json --draw boxes/
      vcm detect orig/*.png --coco-gt gt.json              pseudo ground truth (COCO instances)
      vcm detect orig/*.png --coco-gt gt.json --coco res.json   and COCO results for pycocotools loadRes
      vcm detect bus.jpg --detector yolo11n.pt --conf 0.3 --classes person,car --json out.json
    \b
    Output (--json): one entry per picture with its boxes in pixels [x1, y1, x2, y2], class label, class id
    and confidence score, plus the detector's settings and weights sha256 (to repeat the run exactly).
    Without --json a one-line summary per picture is printed. The default detector, nanodet (NanoDet-m,
    COCO-80), runs offline after `vcm weights fetch`; hog-person (OpenCV's HOG people) needs no weights.
    """
    from vcm.detect import build_detector
    from vcm.detect.draw import draw_detections
    from vcm.detect.io import detections_document, write_detections_json
    from vcm.gt import detections_to_coco, write_coco
    from vcm.fsutil import StagedFiles, guard_outputs, spec_files
    from vcm.media import check_input_file, read_picture, write_picture

    ds = pop_detector(det_opts)
    paths = [Path(p) for p in images]
    draw_names = _unique_names(paths)
    draws = [Path(draw_dir) / f"{n}.png" for n in draw_names] if draw_dir else []
    guard_outputs([*paths, *spec_files(ds.detector)], {"--json": json_path, "--coco": coco_path,
                                                             "--coco-gt": coco_gt_path, "--draw": draws})
    for p in paths:  # every input is there and not empty before anything is detected or written
        check_input_file(p)
    det = build_detector(ds)
    entries = []
    with StagedFiles() as staged:  # the drawings appear together at the end, none if a picture fails
        for s in range(0, len(paths), max(1, batch)):
            chunk = paths[s:s + max(1, batch)]
            pics = [read_picture(p) for p in chunk]
            for k, (p, pic, dets) in enumerate(zip(chunk, pics, det.detect(pics))):
                entries.append((str(p), dets))
                if draws:
                    write_picture(staged.path(draws[s + k]), draw_detections(pic, dets))
                if not json_path or json_path != "-":
                    labels: dict[str, int] = {}
                    for d in dets:
                        labels[d.label] = labels.get(d.label, 0) + 1
                    summary = ", ".join(f"{n} {lab}" for lab, n in sorted(labels.items())) or "nothing"
                    click.echo(f"{p}: {summary}")
    info = det.describe()
    if json_path == "-":
        import json

        json.dump(detections_document(entries, info), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif json_path:
        write_detections_json(json_path, entries, info)
    if coco_gt_path:
        write_coco(coco_gt_path, detections_to_coco(entries, categories=det.class_names,
                                                    info={"description": "vcm pseudo ground truth", "detector": info}))
    if coco_path:
        from vcm.fsutil import write_json_atomic
        from vcm.gt import detections_to_coco_results

        write_json_atomic(coco_path, detections_to_coco_results(entries))
