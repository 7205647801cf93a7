"""Read JRD crop datasets and turn crops into network input, the same way for training and prediction.

Two layouts are read, both with `JRD_info.json` ({name: jrd}) and `train_names.json`, `val_names.json`,
`test_names.json` ({"names": [...]}):
  - `vcm label` output: crops at ROOT/crops/<name>/<name>.png, plus meta.json and labels.csv;
  - the authors' OW-JRD layout: crops at ROOT/<name>/<name>.png.
`crops/` is looked for first. A crop is the detection box of the original picture, clipped to the picture
(`crop_box`); a predictor given a full picture cuts its crops with the same function.
No torch here: `jrd-score` and the label tool use this module without it.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcm.errors import VcmError

SPLITS = ("train", "val", "test")
RESIZE_MODES = ("stretch", "letterbox")


@dataclass
class CropDataset:
    """A dataset on disk: labels per crop name, the three splits, and where the crops lie."""

    root: Path
    crop_root: Path  # ROOT/crops or ROOT
    labels: dict[str, int]
    splits: dict[str, list[str]]
    meta: dict[str, Any] = field(default_factory=dict)
    layout: str = "owjrd"  # "vcm" (crops/ sub-folder) or "owjrd"

    def crop_path(self, name: str) -> Path:
        return self.crop_root / name / f"{name}.png"

    def names(self, split: str) -> list[str]:
        """The crop names of a split ("all" = every labelled crop)."""
        if split == "all":
            return sorted(self.labels)
        if split not in self.splits:
            raise VcmError(f"dataset has no {split!r} split", path=self.root,
                           fix=f"use one of {', '.join(sorted(self.splits) + ['all'])}")
        return self.splits[split]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise VcmError("file not found", path=path, fix="point at a dataset folder written by `vcm label` "
                       "or the OW-JRD dataset root") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VcmError(f"not valid JSON ({e})", path=path, fix="re-create it with `vcm label`") from None


def read_dataset(root: str | Path) -> CropDataset:
    """Read labels and splits (not the crops) of a dataset folder; VcmError naming the bad file."""
    root = Path(root)
    if not root.is_dir():
        raise VcmError("dataset folder not found", path=root, fix="pass the folder that holds JRD_info.json")
    info = _read_json(root / "JRD_info.json")
    if not isinstance(info, dict):
        raise VcmError("expected an object {name: jrd}", path=root / "JRD_info.json", fix="re-create it with `vcm label`")
    labels: dict[str, int] = {}
    for name, v in info.items():
        try:
            q = int(v)
        except (TypeError, ValueError):
            raise VcmError(f"label of {name!r} is not an integer: {v!r}", path=root / "JRD_info.json",
                           fix="labels are QP classes 0..63") from None
        if not 0 <= q <= 63:
            raise VcmError(f"label of {name!r} is {q}, outside 0..63", path=root / "JRD_info.json",
                           fix="labels are QP classes 0..63")
        labels[str(name)] = q
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        path = root / f"{split}_names.json"
        if not path.exists():
            continue
        d = _read_json(path)
        names = d.get("names") if isinstance(d, dict) else None
        if not isinstance(names, list):
            raise VcmError('expected {"names": [...]}', path=path, fix="re-create it with `vcm label`")
        unlabelled = [n for n in names if n not in labels]
        if unlabelled:
            raise VcmError(f"{len(unlabelled)} names have no label in JRD_info.json (first: {unlabelled[:3]})",
                           path=path, fix="make the split files and JRD_info.json come from the same labelling run")
        splits[split] = [str(n) for n in names]
    meta = _read_json(root / "meta.json") if (root / "meta.json").exists() else {}
    if (root / "crops").is_dir():
        return CropDataset(root, root / "crops", labels, splits, meta, "vcm")
    return CropDataset(root, root, labels, splits, meta, "owjrd")


def dataset_boxes(ds: CropDataset) -> tuple[dict[str, list[float]], dict[str, str]]:
    """From `vcm label`'s labels.csv: ({name: [x1, y1, x2, y2] in original-picture pixels}, {name: picture
    file name}); ({}, {}) without one."""
    import csv

    path = ds.root / "labels.csv"
    boxes: dict[str, list[float]] = {}
    pictures: dict[str, str] = {}
    if not path.exists():
        return boxes, pictures
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            name = row.get("name")
            if not name:
                continue
            if row.get("picture"):
                pictures[name] = row["picture"]
            try:
                boxes[name] = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
            except (KeyError, TypeError, ValueError):
                continue
    return boxes, pictures


def check_crops(ds: CropDataset, names: Sequence[str], decode: bool = False) -> tuple[list[str], list[str]]:
    """(missing, corrupt) crop names. Corrupt = PIL cannot verify it (or cannot decode it, with decode=True)."""
    from PIL import Image

    missing, corrupt = [], []
    for name in names:
        path = ds.crop_path(name)
        if not path.is_file():
            missing.append(name)
            continue
        try:
            with Image.open(path) as im:
                if decode:
                    im.load()
                else:
                    im.verify()
        except Exception:
            corrupt.append(name)
    return missing, corrupt


def require_crops(ds: CropDataset, names: Sequence[str]) -> None:
    """Raise one VcmError that names the missing and corrupt crops (up to 5 of each, and the counts)."""
    missing, corrupt = check_crops(ds, names)
    if not missing and not corrupt:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} crops missing ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    if corrupt:
        parts.append(f"{len(corrupt)} crops corrupt ({', '.join(corrupt[:5])}{', ...' if len(corrupt) > 5 else ''})")
    raise VcmError("; ".join(parts), path=ds.crop_root,
                   fix="re-run `vcm label` for them or remove their names from the split files")


def data_fingerprint(ds: CropDataset, names: Sequence[str]) -> str:
    """sha256 over (name, label, crop file size) of the given crops: recorded in checkpoints, cheap to check."""
    h = hashlib.sha256()
    for name in sorted(names):
        p = ds.crop_path(name)
        size = p.stat().st_size if p.exists() else -1
        h.update(f"{name}\t{ds.labels[name]}\t{size}\n".encode())
    return h.hexdigest()


# --- crops and network input -------------------------------------------------------------------------------

def crop_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel box covering (x1, y1, x2, y2), clipped to the picture, at least 1x1 px."""
    x1, y1, x2, y2 = (float(v) for v in box)
    ix1 = min(max(int(math.floor(x1)), 0), width - 1)
    iy1 = min(max(int(math.floor(y1)), 0), height - 1)
    ix2 = max(min(int(math.ceil(x2)), width), ix1 + 1)
    iy2 = max(min(int(math.ceil(y2)), height), iy1 + 1)
    return ix1, iy1, ix2, iy2


def crop_object(picture: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The crop of one detection: the box region of the original picture, clipped to it (a view)."""
    h, w = picture.shape[:2]
    x1, y1, x2, y2 = crop_box(box, w, h)
    return picture[y1:y2, x1:x2]


def read_crop(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) of a crop file; VcmError naming the file if it cannot be decoded."""
    import cv2

    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        what = "missing" if not path.exists() else "corrupt or not an image"
        raise VcmError(f"crop {what}", path=path, fix="re-run `vcm label` for it or remove it from the split files")
    return to_rgb8(img, bgr=True)


def to_rgb8(img: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Grey, RGBA and 16-bit images to RGB uint8."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def resize_crop(rgb: np.ndarray, size: int, mode: str = "stretch", pad_value: Sequence[float] = (124, 116, 104)) -> np.ndarray:
    """Resize to size x size: "stretch" ignores the aspect ratio (as the authors); "letterbox" keeps it and pads."""
    import cv2

    if mode not in RESIZE_MODES:
        raise VcmError(f"unknown resize mode {mode!r}", fix=f"use one of {', '.join(RESIZE_MODES)}")
    h, w = rgb.shape[:2]
    if mode == "stretch":
        interp = cv2.INTER_AREA if (w > size and h > size) else cv2.INTER_LINEAR
        return cv2.resize(rgb, (size, size), interpolation=interp)
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (nw, nh), interpolation=interp)
    out = np.empty((size, size, 3), np.uint8)
    out[:] = np.asarray(pad_value, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def preprocess(rgb: np.ndarray, size: int, mode: str, mean: Sequence[float], std: Sequence[float],
               flip: bool = False) -> np.ndarray:
    """RGB uint8 crop -> float32 (3, size, size), normalised; the one transform of training and prediction."""
    pad = tuple(int(round(255 * m)) for m in mean)  # letterbox padding becomes 0 after normalisation
    img = resize_crop(rgb, size, mode, pad)
    if flip:
        img = img[:, ::-1]
    x = img.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class CropSamples:
    """Map-style dataset for torch's DataLoader: (input float32 CHW, label int64). Flips at random if train."""

    def __init__(self, ds: CropDataset, names: Sequence[str], size: int, resize: str,
                 mean: Sequence[float], std: Sequence[float], train: bool = False):
        self.ds, self.names = ds, list(names)
        self.size, self.resize, self.mean, self.std, self.train = size, resize, tuple(mean), tuple(std), train

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        name = self.names[i]
        rgb = read_crop(self.ds.crop_path(name))
        flip = False
        if self.train:
            import torch  # seeded per worker by the DataLoader, so runs repeat with the same seed

            flip = bool(torch.rand(()) < 0.5)
        x = preprocess(rgb, self.size, self.resize, self.mean, self.std, flip)
        return x, np.int64(self.ds.labels[name])


# --- a generated dataset for tests, smoke runs and benchmarks ----------------------------------------------

def synthetic_jrd(level: int) -> int:
    """The label of a synthetic crop with noise level 0..7: coarser QP for noisier crops (16, 20, ..., 44)."""
    return 16 + 4 * int(level)


def write_synthetic_dataset(root: str | Path, n: int = 240, seed: int = 0, min_side: int = 24, max_side: int = 48,
                            layout: str = "vcm", levels: int = 8, split: tuple[float, float] = (0.7, 0.15)) -> CropDataset:
    """Write `n` generated crops whose JRD is a learnable function of the crop (its noise level).

    Each crop is a smooth random colour field of random size plus Gaussian noise of std 9 x level; the label
    is `synthetic_jrd(level)`. Names are `<image>_<k>` as in OW-JRD (3 crops per image), split by image.
    `layout="vcm"` puts crops under ROOT/crops/, `"owjrd"` directly under ROOT.
    """
    import cv2

    root = Path(root)
    crop_root = root / "crops" if layout == "vcm" else root
    rng = np.random.default_rng(seed)
    labels: dict[str, int] = {}
    for i in range(n):
        name = f"{i // 3:05d}_{i % 3 + 1}"
        w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        base = rng.uniform(70, 185, size=(max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
        img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        level = int(rng.integers(0, levels))
        img = img + rng.normal(0.0, 9.0 * level, size=img.shape)
        crop = np.clip(img, 0, 255).astype(np.uint8)
        (crop_root / name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(crop_root / name / f"{name}.png"), crop[:, :, ::-1])
        labels[name] = synthetic_jrd(level)
    images = sorted({k.rpartition("_")[0] for k in labels})
    order = rng.permutation(len(images))
    n_train, n_val = int(split[0] * len(images)), int(split[1] * len(images))
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    for part, idx in parts.items():
        chosen = {images[j] for j in idx}
        names = [k for k in labels if k.rpartition("_")[0] in chosen]
        (root / f"{part}_names.json").write_text(json.dumps({"names": names}, indent=1))
    (root / "JRD_info.json").write_text(json.dumps(labels, indent=1))
    if layout == "vcm":
        (root / "meta.json").write_text(json.dumps({"generator": "vcm.jrd.data.write_synthetic_dataset", "n": n,
                                                    "seed": seed, "rule": "jrd = 16 + 4 * noise level"}, indent=1))
    return read_dataset(root)


def training_data(root: str | Path):
    """(dataset, train names, val names, fingerprint): a dataset fit to train on — non-empty train and val
    splits, every crop of them present — for `vcm train` (all variants)."""
    ds = read_dataset(root)
    for split in ("train", "val"):
        if not ds.splits.get(split):
            made_by_label = (ds.root / "labels.csv").exists()
            raise VcmError(f"dataset has no (or an empty) {split}_names.json" + (
                f": none of its labelled objects fell in the {split} split (splits are by picture)"
                if made_by_label else ""), path=ds.root,
                fix="label more pictures into it (or give `vcm label` another --split/--seed)" if made_by_label
                else "label with `vcm label` (it writes train/val/test splits)")
    train_names, val_names = ds.names("train"), ds.names("val")
    require_crops(ds, train_names + val_names)
    return ds, train_names, val_names, data_fingerprint(ds, train_names + val_names)
