"""Composed training pictures for DT-JRD: photographic cut-outs pasted at varied sizes and places onto real photos.

The natural training photos hold few objects the detector keeps; pasting the catalogue's cut-outs (one object on
a transparent background, vcm.photos.cutouts()) onto crops of the training photos gives many more objects of
every size. A composed picture is only ever used for training, and its label is what `vcm label` measures on it
(the detector's own behaviour on the composed picture, which is what a JRD is), never the paste's box.

`compose_picture(backgrounds, cutouts, seed, index)` is a pure function of its arguments (numpy's PCG64 seeded
with (seed, index)): the same seed gives the same pictures on every machine with the same catalogue files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

SIZES = ((320, 240), (416, 312), (512, 384))  # small pictures: labelling time grows with the picture
MIN_FRAC, MAX_FRAC = 0.12, 0.9  # a pasted object's longest side, as a fraction of the picture's shorter side
MAX_PASTES = 3
MAX_OVERLAP = 0.25  # a paste covers at most this fraction of an earlier paste's box


@dataclass
class Composed:
    """One composed picture and where its parts came from (recorded beside the picture)."""

    rgb: np.ndarray
    background: str  # photo id
    background_crop: tuple[int, int, int, int]  # x1, y1, x2, y2 in the background photo
    pastes: list[dict[str, Any]] = field(default_factory=list)  # {"cutout": id, "box": [x1, y1, x2, y2]}

    def record(self) -> dict[str, Any]:
        h, w = self.rgb.shape[:2]
        return {"width": w, "height": h, "background": self.background,
                "background_crop": list(self.background_crop), "pastes": self.pastes}


def _background(rng: np.random.Generator, img: np.ndarray, w: int, h: int) -> tuple[np.ndarray, tuple]:
    """A random crop of `img` with the aspect ratio of w x h (at least half the picture's side), resized to w x h."""
    import cv2

    H, W = img.shape[:2]
    scale = min(W / w, H / h) * rng.uniform(0.5, 1.0)
    cw, ch = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
    x = int(rng.integers(0, W - cw + 1))
    y = int(rng.integers(0, H - ch + 1))
    crop = img[y:y + ch, x:x + cw]
    interp = cv2.INTER_AREA if cw >= w else cv2.INTER_LINEAR
    return cv2.resize(crop, (w, h), interpolation=interp), (x, y, x + cw, y + ch)


def _tight(rgba: np.ndarray) -> np.ndarray:
    """The cut-out cropped to its opaque part."""
    ys, xs = np.nonzero(rgba[..., 3] > 16)
    if len(xs) == 0:
        return rgba
    return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """The fraction of box b covered by box a."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max(1, (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / area


def compose_picture(backgrounds: Sequence[tuple[str, np.ndarray]], cutouts: Sequence[tuple[str, np.ndarray]],
                    seed: int, index: int) -> Composed:
    """Composed picture number `index` of the run `seed`: a background crop (RGB) with 1..MAX_PASTES cut-outs
    (RGBA) alpha-blended at log-uniform sizes and uniform places (later pastes avoid covering earlier ones)."""
    import cv2

    rng = np.random.Generator(np.random.PCG64([int(seed), int(index)]))
    w, h = SIZES[int(rng.integers(len(SIZES)))]
    bid, bimg = backgrounds[int(rng.integers(len(backgrounds)))]
    canvas, bcrop = _background(rng, bimg, w, h)
    canvas = canvas.astype(np.float32)
    out = Composed(canvas, bid, bcrop)
    n = int(rng.integers(1, MAX_PASTES + 1))
    boxes: list[list[int]] = []
    for _ in range(n):
        cid, cimg = cutouts[int(rng.integers(len(cutouts)))]
        obj = _tight(cimg)
        oh, ow = obj.shape[:2]
        side = min(w, h) * math.exp(rng.uniform(math.log(MIN_FRAC), math.log(MAX_FRAC)))
        s = side / max(ow, oh)
        nw, nh = max(4, int(round(ow * s))), max(4, int(round(oh * s)))
        if nw > w or nh > h:
            s = min(w / ow, h / oh)
            nw, nh = max(4, int(ow * s)), max(4, int(oh * s))
        mirror = bool(rng.integers(2))
        placed = None
        for _try in range(8):
            x = int(rng.integers(0, w - nw + 1))
            y = int(rng.integers(0, h - nh + 1))
            box = [x, y, x + nw, y + nh]
            if all(_overlap(box, b) <= MAX_OVERLAP for b in boxes):
                placed = box
                break
        if placed is None:
            continue
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        piece = cv2.resize(obj, (nw, nh), interpolation=interp).astype(np.float32)
        if mirror:
            piece = piece[:, ::-1]
        a = piece[..., 3:4] / 255.0
        x1, y1, x2, y2 = placed
        canvas[y1:y2, x1:x2] = canvas[y1:y2, x1:x2] * (1 - a) + piece[..., :3] * a
        boxes.append(placed)
        out.pastes.append({"cutout": cid, "box": placed, "mirror": mirror})
    out.rgb = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return out


def _read_rgb(path: Path, alpha: bool) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        from vcm.errors import VcmError

        raise VcmError("cannot read a catalogue picture", path=path, fix="vcm weights fetch photos")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if alpha:
        if img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def load_parts(backgrounds: Sequence[Any], cutouts: Sequence[Any]) -> tuple[list, list]:
    """(id, RGB) of background photos and (id, RGBA) of cut-outs, from vcm.photos.Photo objects (cached PNGs)."""
    return ([(p.id, _read_rgb(p.path(), False)) for p in backgrounds],
            [(p.id, _read_rgb(p.path(), True)) for p in cutouts])


def write_composed(out_dir: Path, backgrounds: Sequence[Any], cutouts: Sequence[Any], seed: int,
                   indices: Sequence[int], log: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Write composed pictures `indices` of run `seed` as out_dir/composed_s<seed>_<index>.png (a picture already
    there is kept: resumable) and return {file name: record}."""
    from vcm.media import write_picture

    bgs, cuts = load_parts(backgrounds, cutouts)
    out_dir = Path(out_dir)
    records = {}
    for i in indices:
        c = compose_picture(bgs, cuts, seed, i)
        name = f"composed_s{seed}_{i:05d}.png"
        if not (out_dir / name).is_file():
            write_picture(out_dir / name, c.rgb)
        records[name] = c.record()
    if log:
        log(f"{len(records)} composed pictures in {out_dir}")
    return records


__all__ = ["compose_picture", "write_composed", "load_parts", "Composed", "SIZES"]
