#!/usr/bin/env python3
"""imgflex against sharp in interleaved rounds, for a verdict the machine's noise cannot flip.

One run of each side (../shared/bench/README.md) compares two medians taken minutes apart;
on a shared VM the load moves by ±20% in that time, which is as large as the margins that
matter (storm `hero` sits near 1.0x). So this script pairs the two sides tightly instead:
in every round, for every image, it runs `imgflex bench` and `sharp_bench.js` on that one
image back to back (which side goes first alternates by round, so neither always gets the
warmer cache or the quieter second), and takes that pair's time ratio. A cell's figure is
the median of its per-round ratios; the spread (min, max) shows how much one run can lie.

    python3 tools/bench/rounds.py --corpus ../shared/corpus --rounds 7 \
        --ops thumb,card,hero --json /tmp/rounds.json

Prints one line per (image, op), then per op the geometric mean of the cell medians, the
worst cell and how many cells are at or over 1.0x. Exit status 0 when every compared cell's
median is under 1.0x, 1 when one is not, 2 on a usage or run error.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif")


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def rows(path):
    with open(path) as f:
        return {(r["image"], r["op"]): r for r in json.load(f)["rows"]}


def codecs_of(imgflex):
    """What `imgflex --version` says of the build's codecs: the line as printed
    (`jpeg simd: yes, avif asm: NO`), that line as flags ({"jpeg simd": True, ...}), and the
    warnings it prints under it saying what is missing and how to get it."""
    p = subprocess.run([imgflex, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    lines = p.stdout.splitlines()
    codecs = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("codecs:")), None)
    if p.returncode != 0 or codecs is None:
        sys.exit(f"rounds.py: `{imgflex} --version` did not say its codecs:\n{p.stdout.strip()}")
    flags = {k.strip(): v.strip() == "yes"
             for k, v in (part.split(":", 1) for part in codecs.split(",") if ":" in part)}
    return codecs, flags, [l[len("warning: "):] for l in lines if l.startswith("warning: ")]


def run(cmd, env=None):
    """Runs one side; its stdout is the per-cell table we do not need, its stderr is kept
    for the error message when it fails."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"rounds.py: `{' '.join(cmd)}` failed ({p.returncode}):\n{p.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ops", default="thumb,card,hero")
    ap.add_argument("--reps", type=int, default=9, help="timed runs per cell and side, per round")
    ap.add_argument("--only", help="comma list of substrings: images whose name has one of them")
    ap.add_argument("--imgflex", default=os.path.join(ROOT, "target", "release", "imgflex"))
    ap.add_argument("--sharp-bench",
                    default=os.path.join(ROOT, "..", "shared", "bench", "sharp_bench.js"))
    ap.add_argument("--json", help="write every round's pair and the per-cell summary here")
    ap.add_argument("--any-build", action="store_true",
                    help="measure even a build whose codecs lack their SIMD or assembly")
    a = ap.parse_args()

    for what, p in (("imgflex binary (cargo build --release -p imgflex)", a.imgflex),
                    ("sharp_bench.js", a.sharp_bench), ("corpus", a.corpus)):
        if not os.path.exists(p):
            print(f"rounds.py: no {what} at {p}; pass its path", file=sys.stderr)
            return 2
    sharp_dir = os.path.dirname(os.path.abspath(a.sharp_bench))
    if not os.path.isdir(os.path.join(sharp_dir, "node_modules", "sharp")):
        print(f"rounds.py: sharp is not installed next to {a.sharp_bench}; run `npm ci` in "
              f"{sharp_dir}", file=sys.stderr)
        return 2
    images = sorted(f for f in os.listdir(a.corpus) if f.lower().endswith(IMAGE_EXTS))
    if a.only:
        images = [f for f in images if any(s in f for s in a.only.split(","))]
    if not images:
        print("rounds.py: no image in the corpus matches", file=sys.stderr)
        return 2
    codecs, flags, warnings = codecs_of(a.imgflex)
    # JPEG's SIMD matters to every op; AV1's assembly only to AVIF out or in.
    avif = "avif" in a.ops.split(",") or any(f.lower().endswith(".avif") for f in images)
    needed = ["jpeg simd"] + (["avif asm"] if avif else [])
    if not all(flags.get(k, False) for k in needed) and not a.any_build:
        # A verdict on a build that is not what the Lambda runs is worse than none: an x86_64
        # build without the `nasm` feature made AVIF look 1.02x sharp (gmean of 3 rounds; the
        # same code with rav1e's assembly measured 0.39x), and nothing in the output said so.
        print(f"rounds.py: {a.imgflex} is not a fully accelerated build ({codecs}):", file=sys.stderr)
        for line in warnings:
            print(f"  {line}", file=sys.stderr)
        print("hint: `cargo build --release -p imgflex --features nasm` (needs nasm), or pass "
              "--any-build to measure it as it is", file=sys.stderr)
        return 2
    print(f"imgflex codecs: {codecs}", file=sys.stderr)

    env = dict(os.environ, UV_THREADPOOL_SIZE="1")
    ratios = defaultdict(list)  # (image, op) -> [imgflex/sharp per round]
    pairs = []
    work = tempfile.mkdtemp(prefix="imgflex-rounds-")
    try:
        for rnd in range(a.rounds):
            for image in images:
                # Each side reads a folder; a folder holding only this image makes both
                # time the same single file.
                one = os.path.join(work, "in")
                shutil.rmtree(one, ignore_errors=True)
                os.mkdir(one)
                os.symlink(os.path.abspath(os.path.join(a.corpus, image)), os.path.join(one, image))
                ours, ref = os.path.join(work, "imgflex.json"), os.path.join(work, "sharp.json")
                sides = [
                    [a.imgflex, "-q", "bench", "--corpus", one, "--ops", a.ops,
                     "--reps", str(a.reps), "--json", ours],
                    ["node", a.sharp_bench, "--corpus", one, "--ops", a.ops,
                     "--reps", str(a.reps), "--json", ref],
                ]
                for cmd in sides if rnd % 2 == 0 else reversed(sides):
                    run(cmd, env)
                o, r = rows(ours), rows(ref)
                for key in sorted(k for k in r if k in o):
                    t = o[key]["median_ms"] / r[key]["median_ms"]
                    ratios[key].append(t)
                    pairs.append({"round": rnd, "image": key[0], "op": key[1],
                                  "imgflex_ms": o[key]["median_ms"],
                                  "sharp_ms": r[key]["median_ms"], "ratio": round(t, 4),
                                  "imgflex_bytes": o[key]["out_bytes"],
                                  "sharp_bytes": r[key]["out_bytes"]})
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not ratios:
        print("rounds.py: no (image, op) cell was measured by both sides", file=sys.stderr)
        return 2
    cells, per_op = {}, defaultdict(list)
    print(f"{'image':28} {'op':10} {'median x':>8} {'min':>6} {'max':>6} {'rounds':>6}")
    for (image, op), ts in sorted(ratios.items()):
        m = statistics.median(ts)
        cells[f"{image} {op}"] = {"median": round(m, 3), "min": round(min(ts), 3),
                                  "max": round(max(ts), 3), "rounds": len(ts)}
        per_op[op].append((m, image))
        print(f"{image:28} {op:10} {m:8.2f} {min(ts):6.2f} {max(ts):6.2f} {len(ts):6}")
    print()
    summary, over = {}, 0
    for op, ms in sorted(per_op.items()):
        worst = max(ms)
        n_over = sum(1 for m, _ in ms if m >= 1.0)
        over += n_over
        summary[op] = {"gmean": round(gmean([m for m, _ in ms]), 3), "worst": round(worst[0], 3),
                       "worst_image": worst[1], "cells_at_or_over_1": n_over, "cells": len(ms)}
        print(f"op {op:10} gmean x{summary[op]['gmean']:.2f}  worst x{worst[0]:.2f} ({worst[1]})"
              f"  at/over 1.0x: {n_over} of {len(ms)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "reps": a.reps, "ops": a.ops, "codecs": codecs,
                       "summary": summary,
                       "cells": cells, "pairs": pairs}, f, indent=1)
    print(f"cells at or over 1.0x sharp (median of {a.rounds} rounds): {over}")
    return 0 if over == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
