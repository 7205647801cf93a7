"""Which monotone fit BD-rate uses by default (cubic or isotonic), measured on the real non-monotone curves of
docs/BENCHMARKS.md: points kept, numbers vs n/a, leave-one-out sensitivity, and a noisy-sigmoid simulation.
The numbers are quoted in docs/BDRATE.md.

    python tools/bench_bdrate_fits.py
"""
import warnings

import numpy as np

from vcm.metrics.bdrate import bd_compare
from vcm.metrics.curvefit import fit_curve
warnings.simplefilter("ignore")
RA = ([334.2,176.2,102.2,63.2,39.3,24.3],[0.658,0.571,0.408,0.239,0.302,0.040])
S16 = ([0.7168,0.4624,0.2851,0.1634,0.0848,0.0395,0.0195,0.0101],[0.752,0.752,0.541,0.235,0.376,0.356,0.257,0.064])
tests = {"RA frame/prior": ([88.6,60.5,41.2,28.0],[0.335,0.411,0.233,0.046]),
 "RA objects/prior": ([66.4,46.3,32.1,22.4],[0.171,0.381,0.317,0.191]),
 "RA intra/prior": ([229.8,191.5,164.7,143.3],[0.484,0.374,0.243,0.108]),
 "RA tubes/prior": ([127.9,98.8,78.2,63.7],[0.168,0.285,0.126,0.127]),
 "16 frame/prior": ([0.1535,0.0968,0.0576,0.0345],[0.507,0.215,0.400,0.314]),
 "16 frame/search": ([0.3284,0.2394,0.1693,0.1153],[0.726,0.536,0.411,0.265]),
 "16 objects/prior": ([0.0464,0.0364,0.0301,0.0264],[0.308,0.422,0.329,0.347]),
 "16 objects/search": ([0.0560,0.0461,0.0390,0.0336],[0.376,0.350,0.654,0.000])}
print("1. points kept after the fit (measured -> after):")
for n,c in {"RA plain":RA,"16 plain":S16,**tests}.items():
    print(f"   {n:18s} cubic {len(c[0])}->{fit_curve(*c,'cubic').points_after_fit}  isotonic {len(c[0])}->{fit_curve(*c,'isotonic').points_after_fit}")
print("2. every measured JRD curve against its plain anchor: number or n/a")
for fit in ("cubic","isotonic"):
    for n,c in tests.items():
        a = RA if n.startswith("RA") else S16
        r = bd_compare(a,c,monotone=fit)
        print(f"   {fit:8s} {n:18s} {r.value if r.value is None else round(r.value,1)!s:>7} {r.reason or ''}")
print("3. leave-one-out: anchor minus one point vs the full anchor at 0.7x rate (truth -30 %), pchip")
for name,a in (("RA plain",RA),("16 plain",S16)):
    t = ([r*0.7 for r in a[0]], a[1])
    for fit in ("cubic","isotonic"):
        vals=[]; na=0
        for i in range(len(a[0])):
            ai = ([r for j,r in enumerate(a[0]) if j!=i],[q for j,q in enumerate(a[1]) if j!=i])
            v = bd_compare(ai,t,monotone=fit,min_overlap=0).value
            if v is None: na+=1
            else: vals.append(v)
        vals=np.array(vals)
        print(f"   {name} {fit:8s} n/a {na}/{len(a[0])}, BD-rate {vals.min():.1f}..{vals.max():.1f} %, max |error| {np.abs(vals+30).max():.1f} points")
print("4. simulation: a smooth sigmoid accuracy curve, 6 QPs, noise sd 0.03 (detector flicker), test at 0.7x rate")
x=np.linspace(1.3,2.5,6); true=lambda x: 0.85/(1+np.exp(-3.5*(x-1.7)))
for fit in ("cubic","isotonic"):
    rng=np.random.default_rng(0); err=[]; na=0; nonmono=0
    for k in range(1000):
        qa=np.clip(true(x)+rng.normal(0,0.03,6),0,1); qt=np.clip(true(x)+rng.normal(0,0.03,6),0,1)
        if np.any(np.diff(qa)<=0) or np.any(np.diff(qt)<=0): nonmono+=1
        else: continue
        v=bd_compare((10**x,qa),(0.7*10**x,qt),monotone=fit).value
        if v is None: na+=1
        else: err.append(v+30)
    err=np.abs(err)
    print(f"   {fit:8s} non-monotone draws {nonmono}: n/a {na}, |error| median {np.median(err):.1f} / 90th pct {np.percentile(err,90):.1f} points")
