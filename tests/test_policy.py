"""The coding policy's invariant on real pictures: a vcm file is never larger than plain VVC at the lowest object
QP, every mode falls back to it, and what is written keeps every object a passing candidate kept. Real
encodes, real nanodet and HOG detectors. The whole bundled set runs in the slow step; two pictures always."""
from __future__ import annotations

import pytest

import vcm
from vcm.bundled import bundled_pictures


def _check(path, detector: str, mode: str) -> None:
    rep = vcm.encode(path, detector=detector, jrd="prior", mode=mode)
    choice = rep.settings["choice"]
    plain = next(c for c in choice["candidates"] if c["name"] == "plain")
    assert rep.total_bytes <= plain["bytes"], (path, detector, mode, choice)
    assert rep.total_bytes == len(rep.data)
    chosen = next(c for c in choice["candidates"] if c["name"] == choice["chosen"])
    if chosen["passed"]:  # the check of the written file agrees with the candidate's check
        assert rep.check["still_detected"] == rep.check["objects"], (path, detector, rep.check)
    # every cheaper candidate was checked and failed (the choice is the cheapest that passes)
    for c in choice["candidates"]:
        if c["bytes"] < chosen["bytes"] and chosen["passed"]:
            assert c["checked"] and not c["passed"], (path, c)


@pytest.mark.parametrize("detector", ["nanodet", "hog-person"])
def test_never_larger_than_plain_on_two_real_pictures(detector, nanodet_weights):
    pics = {p.name: p for p in bundled_pictures("default")}
    for name in ("bus.jpg", "bikes_f032.png"):
        for mode in ("auto", "objects"):
            _check(pics[name].path(), detector, mode)


@pytest.mark.slow
@pytest.mark.parametrize("detector", ["nanodet", "hog-person"])
def test_never_larger_than_plain_on_every_bundled_picture(detector, nanodet_weights):
    for p in bundled_pictures("default"):
        _check(p.path(), detector, "auto")
