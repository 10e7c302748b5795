#!/usr/bin/env python3
"""Compares the smart-crop windows and times of sharp (tools/bench/sharp-smart.js) and
imgflex (`imgflex bench --ops smart --json`): per image the overlap of the two windows
(intersection over union, in the resized image) and imgflex/sharp time; then the mean IoU
and the geometric mean of the ratios.

    python3 tools/bench/smart-iou.py sharp-smart.json imgflex-smart.json
"""
import json
import math
import sys


def rows(path):
    return {r["image"]: r for r in json.load(open(path))["rows"] if r["op"] == "smart"}


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def main():
    sharp, ours = rows(sys.argv[1]), rows(sys.argv[2])
    ious, ratios = [], []
    print(f"{'image':28} {'sharp window':>22} {'imgflex window':>22} {'IoU':>5} {'time':>6}")
    for image in sorted(set(sharp) & set(ours)):
        s, o = sharp[image], ours[image]
        # A window as big as the resized image (nothing cropped) has no choice to compare.
        sw, ow = s.get("window"), o.get("window") or [0, 0, o["out_w"], o["out_h"]]
        overlap = iou(sw, ow)
        ratio = o["median_ms"] / s["median_ms"]
        ious.append(overlap)
        ratios.append(ratio)
        print(f"{image:28} {str(sw):>22} {str(ow):>22} {overlap:5.2f} {ratio:5.2f}x")
    if ious:
        gmean = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"{len(ious)} images: mean IoU {sum(ious) / len(ious):.2f}, "
              f"min {min(ious):.2f}; time {gmean:.2f}x sharp (gmean)")


if __name__ == "__main__":
    main()
