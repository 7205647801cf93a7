"""JRD labels from per-QP detection results: the corrected label rule, an exact smart search, names, splits.

The label of an object (OW-JRD's definition, measured where vcm uses it): code the picture at every QP of a
list q_0 < q_1 < ... < q_{n-1} as `vcm encode --mode objects` would (`vcm.jrd.search`: every object crop at
q_i over the coded background; `vcm label` and `--jrd search` both run it, so they give one JRD per object),
run the detector on each decoded picture and note d_i = "the object is still detected at q_i" (the shared
rule of `vcm.metrics.match`). Detector responses are not monotonic in QP: an object may vanish at one QP and
come back at the next. The correction (a sliding window of W probed QPs, W = 8 as in the authors' earlier
work):

    r = the first position i that starts a run of W probed QPs at which the object is lost,
        i.e. d_i = ... = d_{i+W-1} = False; a window cut short by the end of the list counts when every
        QP left in it is lost, the top QP q_{n-1} excepted when the window holds other QPs too: a
        detection at the top QP alone does not end a loss (no QP above it can confirm it; lost at 57-62 and
        found again at 63 is lost from 57, not "never lost");
    label = q_{r-1}.

So losses that last fewer than W probed QPs are treated as noise. Consequences, each relied upon:
  - d at the label is True (if it were False, a lost window would start one position earlier);
  - an object never lost for W QPs in a row (`never_lost`) is detected at the top QP and at the one below it,
    and gets the top QP (63 by default; with a reduced range it is "censored": its true JRD is at least that);
  - r = 0 (lost at the lowest QPs for a whole window) means "not found even at the lowest QP": dropped;
  - a QP the encoder cannot code (libvvenc refuses near-lossless QPs on small pictures) is left out of the
    list, as if it had not been asked for.

The smart search evaluates exactly this rule without coding every QP: it scans windows from the low end and
checks each window from its top down (Boyer-Moore style): a detection at the window's top proves no lost
window starts in it, so the scan jumps W positions; a loss makes it walk down until it meets a detection
(the next candidate starts just above it) or the window's bottom (the answer). It only ever decides on
values it has measured, so it gives the label of the full sweep (the tests check it on real pictures and on
random vectors) with about r/W + W codings instead of n. All objects of a picture are scanned in lockstep
and share each coding.

Per-QP strings (labels.csv, `detected`): 64 characters, one per QP 0..63: '1' detected, '0' lost,
'!' the encoder could not code it, '.' not coded (outside the list, or skipped by the smart search).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Generator, Iterable, Mapping, Sequence

import numpy as np

from vcm.errors import VcmError

WINDOW = 8
MAX_QP = 63
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_NAMES = ("train", "val", "test")
RULE_TEXT = ("label = the probed QP just below the first run of {w} probed QPs in a row at which the object is "
             "lost (a shorter run at the end of the list counts, and a detection at the top QP alone does not end "
             "it); shorter losses are noise; a run starting at the lowest QP: dropped; no run: the top QP")

# object status after labelling
LABELLED, NEVER_LOST, DROPPED, UNCODED = "labelled", "never_lost", "dropped", "uncoded"
# not labelled: a detection on the original scoring under the keep score (vcm.metrics.match), never coded for
BELOW_KEEP_SCORE = "below_keep_score"


def parse_qps(text: str, step: int = 1) -> list[int]:
    """`"0-63"` (every `step`-th QP from the low end, the top QP always included) or `"22,27,32"`."""
    if step < 1:
        raise VcmError(f"--qp-step must be >= 1, got {step}", fix="use e.g. --qp-step 1")
    s = str(text).replace(" ", "")
    m = re.fullmatch(r"(\d+)-(\d+)", s)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if not 0 <= lo <= hi <= MAX_QP:
            raise VcmError(f"QP range {text!r} is not inside 0-{MAX_QP}", fix="use e.g. --qps 0-63")
        qps = list(range(lo, hi + 1, step))
        if qps[-1] != hi:
            qps.append(hi)
        return qps
    if re.fullmatch(r"\d+(,\d+)*", s):
        qps = sorted({int(v) for v in s.split(",")})
        if qps[-1] > MAX_QP:
            raise VcmError(f"QP {qps[-1]} is outside 0-{MAX_QP}", fix="use QPs 0..63")
        return qps
    raise VcmError(f"cannot read QPs {text!r}", fix="use a range like 0-63 or a list like 22,27,32,37")


@dataclass(frozen=True)
class ObjectLabel:
    """The outcome of the rule for one object: status and label (a QP; None when dropped or uncoded)."""

    status: str
    jrd: int | None


def first_lost_window(values: Sequence[bool], window: int = WINDOW) -> int:
    """The reference definition: smallest i with values[i:i+window] all False (cut at the end; the last value
    does not count when the window holds others: a detection at the top QP alone ends no loss); len if none."""
    n = len(values)
    for i in range(n):
        end = min(i + window, n)
        if not any(values[i:end - 1 if end == n and end - i > 1 else end]):
            return i
    return n


def label_from_values(qps: Sequence[int], values: Sequence[bool | None], window: int = WINDOW) -> ObjectLabel:
    """Apply the corrected-label rule to a full sweep (None = the QP could not be coded: left out)."""
    if len(qps) != len(values):
        raise ValueError("one value per QP")
    kept = [(q, bool(v)) for q, v in zip(qps, values) if v is not None]
    if not kept:
        return ObjectLabel(UNCODED, None)
    r = first_lost_window([v for _, v in kept], window)
    if r == 0:
        return ObjectLabel(DROPPED, None)
    if r == len(kept):
        return ObjectLabel(NEVER_LOST, kept[-1][0])
    return ObjectLabel(LABELLED, kept[r - 1][0])


def _scan(n: int, window: int) -> Generator[int, bool | None, tuple[str, int | None]]:
    """Find the rule's answer for one object over positions 0..n-1, asking only for the values it needs.

    Yields a position, receives its value (True/False, or None when that QP cannot be coded); returns
    (status, position of the label or None). A None removes the position and restarts the scan over the
    remaining ones (values already measured are reused, so a restart costs no coding).
    """
    known: dict[int, bool | None] = {}
    while True:
        avail = [i for i in range(n) if known.get(i, True) is not None]
        m = len(avail)
        if m == 0:
            return UNCODED, None
        j, restart = 0, False
        while j < m:
            k = min(j + window - 1, m - 1)
            while k >= j:
                pos = avail[k]
                if pos not in known:
                    known[pos] = yield pos
                v = known[pos]
                if v is None:
                    restart = True
                    break
                if v and not (k == m - 1 and k > j):  # the top QP alone does not end a loss
                    break
                k -= 1
            if restart:
                break
            if k < j:  # a whole window lost: the label is just below it
                return (DROPPED, None) if j == 0 else (LABELLED, avail[j - 1])
            j = k + 1
        if not restart:
            return NEVER_LOST, avail[m - 1]


ProbeFn = Callable[..., Mapping[int, Sequence[bool] | None]]


def smart_search(n_objects: int, qps: Sequence[int], probe: ProbeFn, window: int = WINDOW,
                 speculate: bool = False) -> tuple[list[ObjectLabel], dict[int, list[bool] | None]]:
    """Labels of `n_objects` objects of one picture, coding as few QPs as the rule allows.

    `probe(list of QPs)` codes the picture at each QP and returns, per QP, one bool per object (still
    detected?) or None if the QP cannot be coded. Returns the labels and every probe's result, by QP.
    With `speculate`, probe is called as probe(QPs, ahead=[QPs]): `ahead` are the QPs the scan will most
    likely ask for next (each object's next request if its value stays what it last was), which a probe
    may start coding in the background. Speculation only warms a cache: the answers never depend on it.
    """
    results: dict[int, list[bool] | None] = {}
    labels: list[ObjectLabel | None] = [None] * n_objects
    gens = [_scan(len(qps), window) for _ in range(n_objects)]
    pending: dict[int, int] = {}
    last: dict[int, bool] = {}

    def advance(o: int, value=None, first=False):
        try:
            pos = next(gens[o]) if first else gens[o].send(value)
            pending[o] = pos
        except StopIteration as stop:
            status, pos = stop.value
            labels[o] = ObjectLabel(status, None if pos is None else int(qps[pos]))
            pending.pop(o, None)

    for o in range(n_objects):
        advance(o, first=True)
    while pending:
        need = sorted({qps[p] for p in pending.values()} - set(results))
        if need:
            if speculate:
                guess = {qps[min(p + window, len(qps) - 1)] if last.get(o, True) else qps[max(p - 1, 0)]
                         for o, p in pending.items()}
                got = probe(need, ahead=sorted(guess - set(results) - set(need)))
            else:
                got = probe(need)
            for q in need:
                v = got[q]
                results[q] = None if v is None else [bool(x) for x in v]
        for o, pos in list(pending.items()):
            v = results[qps[pos]]
            if v is not None:
                last[o] = v[o]
            advance(o, None if v is None else v[o])
    return [lab for lab in labels if lab is not None], results


def full_sweep(n_objects: int, qps: Sequence[int], probe: ProbeFn,
               window: int = WINDOW) -> tuple[list[ObjectLabel], dict[int, list[bool] | None]]:
    """Code every QP, then apply the rule (the reference the smart search must equal)."""
    got = probe(list(qps)) if n_objects else {}
    results = {q: (None if got[q] is None else [bool(x) for x in got[q]]) for q in got}
    labels = [label_from_values(qps, [None if results[q] is None else results[q][o] for q in qps], window)
              for o in range(n_objects)]
    return labels, results


def detected_string(results: Mapping[int, Sequence[bool] | None], obj: int) -> str:
    """64 characters, QP 0..63: '1' detected, '0' lost, '!' could not be coded, '.' not coded."""
    chars = []
    for q in range(MAX_QP + 1):
        if q not in results:
            chars.append(".")
        elif results[q] is None:
            chars.append("!")
        else:
            chars.append("1" if results[q][obj] else "0")
    return "".join(chars)


def values_from_string(s: str, qps: Iterable[int]) -> list[bool | None]:
    """The inverse of `detected_string` over `qps` ('!' -> None); '.' is an error (not measured)."""
    out: list[bool | None] = []
    for q in qps:
        c = s[q]
        if c == ".":
            raise ValueError(f"QP {q} was not coded")
        out.append(None if c == "!" else c == "1")
    return out


# --- names and splits ------------------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def picture_names(relpaths: Sequence[str]) -> list[str]:
    """A file-system-safe, unique name per picture: its relative path without extension ('/' -> '__').

    Pictures that would share a name (a.jpg and a.png) get a short hash of their path appended, so names
    never depend on the order the pictures are listed in.
    """
    base = []
    for rel in relpaths:
        stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
        base.append(_SAFE.sub("_", stem.replace("\\", "/").replace("/", "__")).strip("_") or "picture")
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    return [b if counts[b] == 1 else f"{b}-{hashlib.sha1(rel.encode()).hexdigest()[:6]}"
            for b, rel in zip(base, relpaths)]


def crop_name(picture_name: str, k: int) -> str:
    """`<picture-name>_<k>`, k = the object's index in the picture's detection order (from 0)."""
    return f"{picture_name}_{k}"


def split_pictures(names: Sequence[str], seed: int = 0,
                   fractions: Sequence[float] = SPLIT_FRACTIONS) -> dict[str, list[str]]:
    """Split pictures (not crops: crops of one picture never straddle splits) into train/val/test.

    Sorted names shuffled with `seed`; val and test get round(fraction x n) pictures each (val at least one
    from 2 pictures on, test at least one from 3 on, if their fraction is > 0: `vcm train` needs a
    validation split); train gets the rest, at least one picture.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise VcmError(f"bad split fractions {list(fractions)}", fix="give three numbers, e.g. 0.8,0.1,0.1")
    total = float(sum(fractions))
    fr = [f / total for f in fractions]
    order = sorted(names)
    rng = np.random.default_rng(seed)
    order = [order[i] for i in rng.permutation(len(order))]
    n = len(order)
    sizes = []
    for f, n_min in zip(fr[1:], (2, 3)):  # a validation picture from 2 pictures on, a test picture from 3
        k = int(round(f * n))
        if n >= n_min and f > 0:
            k = max(1, k)
        sizes.append(k)
    n_val, n_test = sizes
    reserve = 1 if fr[0] > 0 and n > 0 else 0  # keep a training picture when training is asked for
    while n_val + n_test > n - reserve:
        if n_test >= n_val and n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    return {"val": sorted(order[:n_val]), "test": sorted(order[n_val:n_val + n_test]),
            "train": sorted(order[n_val + n_test:])}


def histogram(labels: Iterable[int], bin_width: int = 8) -> dict[str, int]:
    """Label counts per QP bin ("0-7": 3, ...), every bin listed."""
    counts = {f"{lo}-{min(lo + bin_width - 1, MAX_QP)}": 0 for lo in range(0, MAX_QP + 1, bin_width)}
    for q in labels:
        lo = (int(q) // bin_width) * bin_width
        counts[f"{lo}-{min(lo + bin_width - 1, MAX_QP)}"] += 1
    return counts
