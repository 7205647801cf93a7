"""Cached backbone features of crops: the mean patch token of every crop, computed once per backbone.

Training only the head (`vcm train --train head`) needs each crop's feature, not the image: computing them
once makes every later epoch (and every later run, on the same or a grown dataset) a matter of seconds.
A feature is keyed by the crop file's sha256 and whether it was flipped (the training augmentation), inside
a folder keyed by everything else it depends on (`FeatureSpec`: backbone, its weights' sha256, input size,
resize mode, normalisation, precision, this module's version). Each computation adds one shard file `<hash>.npz`
(keys + float32 features), written atomically, never changed after; readers take the union of the shards.
Location: $VCM_CACHE_DIR/features, else ~/.cache/vcm/features.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

FEATURE_VERSION = 1  # bump when the crop -> feature computation changes


@dataclass(frozen=True)
class FeatureSpec:
    """Everything a cached feature depends on besides the crop itself."""

    backbone: str  # timm architecture
    weights: str  # sha256 of the weights file ("random:SEED" for untrained backbones: tests only)
    img_size: int
    resize: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    precision: str = "fp32"  # "bf16": computed under bf16 autocast (other numbers, so another folder)

    def key(self) -> str:
        d = dict(asdict(self), mean=[float(v) for v in self.mean], std=[float(v) for v in self.std],
                 version=FEATURE_VERSION)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:20]


def default_feature_dir() -> Path:
    env = os.environ.get("VCM_CACHE_DIR")
    return (Path(env) if env else Path.home() / ".cache" / "vcm") / "features"


def crop_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class FeatureStats:
    """What one `features()` call did (reported by `vcm train`)."""

    requested: int
    computed: int
    seconds: float
    folder: Path


class FeatureCache:
    """The features of one `FeatureSpec`: `features(model, paths, flip)` returns (N, D) float32, computing
    (and storing) only those not cached yet."""

    def __init__(self, spec: FeatureSpec, root: str | Path | None = None):
        self.spec = spec
        self.folder = Path(root or default_feature_dir()) / spec.key()

    def load(self) -> dict[str, np.ndarray]:
        """{key: feature} over every shard (a shard that cannot be read is skipped: it is recomputed)."""
        out: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return out
        for shard in sorted(self.folder.glob("*.npz")):
            if shard.name.startswith("."):  # an atomic write in progress
                continue
            try:
                with np.load(shard, allow_pickle=False) as z:
                    keys, feats = z["keys"], z["feats"]
            except Exception:
                continue
            for k, f in zip(keys.tolist(), feats):
                out[str(k)] = f
        return out

    def add(self, keys: Sequence[str], feats: np.ndarray) -> Path:
        """Store one shard atomically; its name is the hash of its keys (the same work twice is one file)."""
        from vcm.fsutil import atomic_path, write_json_atomic

        if len(keys) != len(feats):
            raise ValueError("one feature per key")
        self.folder.mkdir(parents=True, exist_ok=True)
        spec_file = self.folder / "spec.json"
        if not spec_file.exists():
            write_json_atomic(spec_file, dict(asdict(self.spec), version=FEATURE_VERSION))
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16] + ".npz"
        path = self.folder / name
        with atomic_path(path) as tmp:
            np.savez(tmp, keys=np.asarray(list(keys), dtype=str), feats=np.asarray(feats, np.float32))
        return path

    def features(self, model: Any, paths: Sequence[str | Path], flip: bool = False, *, batch_size: int = 32,
                 device: Any = "cpu", progress: bool = False,
                 log: Callable[[str], None] | None = None) -> tuple[np.ndarray, FeatureStats]:
        """(N, D) mean-patch-token features of the crops at `paths` (flipped left-right if `flip`).

        `model` is a DTJRDNet whose backbone matches the spec (the caller's promise: the spec is its key)."""
        import time

        import torch
        from tqdm import tqdm

        from vcm.jrd.data import preprocess, read_crop

        t0 = time.perf_counter()
        suffix = ":flip" if flip else ""
        keys = [crop_sha256(p) + suffix for p in paths]
        have = self.load()
        todo = sorted({k for k in keys if k not in have})
        by_key = {k: p for k, p in zip(keys, paths)}
        if todo:
            if log:
                log(f"computing backbone features of {len(todo)} crops{' (flipped)' if flip else ''} "
                    f"({len(keys) - len(todo)} cached) into {self.folder}")
            s = self.spec
            model.eval()
            new = []
            dev = torch.device(device)
            cpu_bf16 = s.precision == "bf16" and dev.type == "cpu"
            if cpu_bf16:  # as the dtjrd predictor: a bf16 copy of the backbone (autocast re-casts every call)
                import copy

                model = copy.deepcopy(model)
                model.backbone.to(torch.bfloat16)
            bar = tqdm(total=len(todo), desc="features", disable=not progress, dynamic_ncols=True)
            with torch.inference_mode():
                for i in range(0, len(todo), batch_size):
                    chunk = todo[i:i + batch_size]
                    x = np.stack([preprocess(read_crop(by_key[k]), s.img_size, s.resize, s.mean, s.std, flip)
                                  for k in chunk])
                    xt = torch.from_numpy(x).to(dev)
                    if cpu_bf16:
                        f = model.features(xt.to(torch.bfloat16))
                    else:
                        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=s.precision == "bf16"):
                            f = model.features(xt)
                    new.append(f.float().cpu().numpy())
                    bar.update(len(chunk))
            bar.close()
            feats = np.concatenate(new)
            self.add(todo, feats)
            have.update(zip(todo, feats))
        out = np.stack([have[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
        return out.astype(np.float32, copy=False), FeatureStats(len(keys), len(todo), time.perf_counter() - t0,
                                                                self.folder)


__all__ = ["FeatureSpec", "FeatureCache", "FeatureStats", "crop_sha256", "default_feature_dir", "FEATURE_VERSION"]
