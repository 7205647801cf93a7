"""`vcm detect`: run a detector on pictures; write detections JSON, COCO pseudo ground truth, drawn pictures.

The detector options are the shared ones of vcm/cli/options.py (`@detector_options`), as on every command
that detects.
"""
from __future__ import annotations

import sys

import click

from vcm.cli.options import batch_size_option, detector_options, json_option, pop_detector, setting_option


@click.command("detect")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@detector_options
@json_option('the detections, {"images": [{"file", "width", "height", "detections": [...]}]},')
@click.option("--coco", "coco_path", type=click.Path(dir_okay=False),
              help="Write the detections as COCO results (pycocotools loadRes: image ids 1..N in input order, "
                   "COCO category ids).")
@click.option("--coco-gt", "coco_gt_path", type=click.Path(dir_okay=False),
              help="Write the detections as COCO instances JSON: pseudo ground truth for `vcm map --gt`.")
@click.option("--draw", "draw_dir", type=click.Path(file_okay=False),
              help="Write each picture (each frame) with its boxes drawn to DIR/<name>.png (DIR/<name>_<frame>.png).")
@batch_size_option("Pictures per detector call.", default=8, old=("--batch",))
@setting_option("start", help="Videos: first frame detected.")
@setting_option("max_frames", help="Videos: detect at most N frames of each [default: every frame].")
def detect(images, json_path, coco_path, coco_gt_path, draw_dir, batch_size, start, max_frames, **det_opts):
    """Find objects in pictures, folders of pictures and videos with a detector.

    \b
    Examples:
      vcm detect bus.jpg --json bus_det.json --draw boxes/
      vcm detect orig/ --coco-gt gt.json                   pseudo ground truth (COCO instances), every picture
      vcm detect orig/*.png --coco-gt gt.json --coco res.json   and COCO results for pycocotools loadRes
      vcm detect clip.mp4 --frames 8 --json clip_det.json      every frame of a video (here the first 8)
      vcm detect bus.jpg --detector centernet --conf 0.3 --classes person,car --json out.json
    \b
    Inputs as `yolo predict` takes them: pictures, folders (their pictures and videos, top level, by name) and
    videos (every frame, or --start/--frames; frame k of clip.mp4 is named clip.mp4#k in the outputs).
    Output (--json): one entry per picture or frame with its boxes in pixels [x1, y1, x2, y2], class label,
    class id and confidence score, plus the detector's settings and weights sha256 (to repeat the run
    exactly); --coco/--coco-gt cover every picture and frame too. Without --json a one-line summary per
    picture is printed. The default detector, nanodet (NanoDet-m, COCO-80), runs offline after
    `vcm weights fetch`; hog-person (OpenCV's HOG people) needs no weights; YOLO weights (yolo11n.pt) with
    `pip install '.[yolo]'`.
    """
    from pathlib import Path

    from vcm.detect import build_detector
    from vcm.detect.draw import draw_detections
    from vcm.detect.io import detections_document, write_detections_json
    from vcm.fsutil import StagedFiles, guard_outputs, spec_files
    from vcm.gt import detections_to_coco, write_coco
    from vcm.media import write_picture
    from vcm.pipelines.detect import DetectItem, DrawNames, expand_inputs, is_video, run_detect

    ds = pop_detector(det_opts)
    files = expand_inputs(images)
    names = DrawNames()
    draws = [Path(draw_dir) / f"{names(DetectItem(p))}.png" for p in files if not is_video(p)] if draw_dir else []
    guard_outputs([*files, *spec_files(ds.detector)], {"--json": json_path, "--coco": coco_path,
                                                       "--coco-gt": coco_gt_path, "--draw": draws})
    det = build_detector(ds)
    names = DrawNames()
    with StagedFiles() as staged:  # the drawings appear together at the end, none if a picture fails
        def on_item(item, pic, dets):
            if draw_dir:
                write_picture(staged.path(Path(draw_dir) / f"{names(item)}.png"), draw_detections(pic, dets))
            if json_path != "-":
                labels: dict[str, int] = {}
                for d in dets:
                    labels[d.label] = labels.get(d.label, 0) + 1
                summary = ", ".join(f"{n} {lab}" for lab, n in sorted(labels.items())) or "nothing"
                click.echo(f"{item.name}: {summary}")

        entries = [(item.name, dets) for item, dets in run_detect(files, det, batch=batch_size, start=start,
                                                                   max_frames=max_frames, on_item=on_item)]
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
