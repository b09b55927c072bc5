#!/usr/bin/env python3
"""Compares one third-party runtime's outputs with ours (edgefed_reference) on the same images.

  compare.py --reference DIR --outputs FILE --n N --io float|int8 [--tolerance T]
             [--report RUNTIME.json] [--runtime NAME] [--variant NAME]

Criteria (all must hold, else exit 1 naming each one that failed):
  agreement  int8 outputs:  |runtime code - our code| <= 1 on >= 99 % of the N x K logits
             float outputs: |runtime - ours| <= T on >= 99 %, where T is one output LSB: the
                            int8 graph's logits scale (meta.json) unless --tolerance is given
                            (required for a float graph, which has no LSB); plus float32
                            rounding of the dequantized values (FLOAT_ROUNDING)
  accuracy   |top-1 accuracy of the runtime - ours| <= 0.2 point on the N labelled images
  report     when --report names the JSON line the check printed: its input and output
             types are those --io asks for, and any quantization it read from the exported
             file (scale, zero point) is our graph's (scales to a relative 1e-6)
Prints one JSON line with the measured numbers. Exit codes: 0 agree, 1 disagree, 2 bad files.
Stdlib only.
"""
import argparse
import array
import json
import os
import sys

MIN_FRACTION = 0.99        # share of logits that must agree
MAX_CODE_DELTA = 1         # int8 codes
MAX_ACCURACY_DELTA_PER_MILLE = 2  # 0.2 point, on counts: 1 image in 500 is exactly 0.2 point
# Float outputs of an int8 graph are s x (q - z) rounded to float32 by each side, so a one-code
# difference measures a few float32 ulps over s (e.g. 0.1116342545 for s = 0.1116338074): the
# comparison allows that rounding, relative 1e-4, and nothing more.
FLOAT_ROUNDING = 1e-4
INT8_TYPES = {"int8", "QAsymmS8"}
FLOAT_TYPES = {"float32", "Float32"}


def load(path, typecode, count):
    values = array.array(typecode)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != count * values.itemsize:
        raise ValueError(f"{path}: {len(data)} bytes, expected {count} x {values.itemsize}")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def top1(values, n, k):
    rows = (values[i * k:(i + 1) * k] for i in range(n))
    return [max(range(k), key=row.__getitem__) for row in rows]


def check_report(report, io, meta):
    """Failures of the runtime's own account of the file: types and quantization."""
    failures = []
    wanted = INT8_TYPES if io == "int8" else FLOAT_TYPES
    for side in ("input", "output"):
        got = report.get(f"{side}_type")
        if got not in wanted:
            failures.append(f"{side} type {got}, expected {io}")
        scale = report.get(f"{side}_scale")
        if scale is None:
            continue
        ours_scale, ours_zp = meta[f"{side}_scale"], meta[f"{side}_zero_point"]
        if ours_scale is None or abs(scale - ours_scale) > 1e-6 * ours_scale:
            failures.append(f"{side} scale {scale} in the exported file, ours {ours_scale}")
        if report.get(f"{side}_zero_point") != ours_zp:
            failures.append(f"{side} zero point {report.get(f'{side}_zero_point')} in the exported file, ours {ours_zp}")
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="edgefed_reference output directory")
    p.add_argument("--outputs", required=True, help="the runtime's outputs, N x K, float32 or int8")
    p.add_argument("--n", type=int, required=True, help="images the runtime ran (the first N)")
    p.add_argument("--io", choices=("float", "int8"), required=True)
    p.add_argument("--tolerance", type=float, help="float outputs: allowed |delta| (default: the logits scale)")
    p.add_argument("--report", help="file holding the JSON line the runtime check printed")
    p.add_argument("--runtime", default="?", help="name for the result line")
    p.add_argument("--variant", default="?", help="name for the result line")
    a = p.parse_args()

    try:
        with open(os.path.join(a.reference, "meta.json")) as f:
            meta = json.load(f)
        n, k = a.n, meta["k"]
        if not 0 < n <= meta["n"]:
            raise ValueError(f"--n {n} outside 1..{meta['n']} (images in the reference)")
        labels = load(os.path.join(a.reference, "labels.u8"), "B", meta["n"])[:n]
        if a.io == "int8":
            ours = load(os.path.join(a.reference, "ours.i8"), "b", meta["n"] * k)[:n * k]
            theirs = load(a.outputs, "b", n * k)
            tolerance = MAX_CODE_DELTA
        else:
            ours = load(os.path.join(a.reference, "ours.f32"), "f", meta["n"] * k)[:n * k]
            theirs = load(a.outputs, "f", n * k)
            tolerance = a.tolerance if a.tolerance is not None else meta["output_scale"]
            if tolerance is None:
                raise ValueError("float graph: give --tolerance (it has no logits scale)")
        report = None
        if a.report:
            with open(a.report) as f:
                lines = f.read().strip().splitlines()
            if not lines:
                raise ValueError(f"{a.report} is empty (did the check fail?)")
            report = json.loads(lines[-1])
    except (OSError, ValueError, KeyError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2

    deltas = [abs(x - y) for x, y in zip(theirs, ours)]
    limit = tolerance if a.io == "int8" else tolerance * (1 + FLOAT_ROUNDING)
    within = sum(d <= limit for d in deltas) / len(deltas)
    ours_top1, their_top1 = top1(ours, n, k), top1(theirs, n, k)
    correct_ours = sum(p == y for p, y in zip(ours_top1, labels))
    correct_theirs = sum(p == y for p, y in zip(their_top1, labels))
    acc_ours, acc_theirs = correct_ours / n, correct_theirs / n
    agreement = sum(p == q for p, q in zip(ours_top1, their_top1)) / n

    failures = []
    if within < MIN_FRACTION:
        failures.append(f"only {within:.4%} of the logits within {tolerance:g} of ours (need {MIN_FRACTION:.0%}); "
                        f"max |delta| {max(deltas):g}")
    if abs(correct_theirs - correct_ours) * 1000 > MAX_ACCURACY_DELTA_PER_MILLE * n:
        failures.append(f"top-1 accuracy {acc_theirs:.4f}, ours {acc_ours:.4f} "
                        f"(allowed difference {MAX_ACCURACY_DELTA_PER_MILLE / 10:g} point)")
    if report is not None:
        failures += check_report(report, a.io, meta)

    line = {"runtime": a.runtime, "variant": a.variant, "io": a.io, "n": n,
            "tolerance": tolerance, "within_fraction": within, "max_abs_delta": max(deltas),
            "equal_fraction": sum(d == 0 for d in deltas) / len(deltas),
            "accuracy_ours": acc_ours, "accuracy_runtime": acc_theirs, "top1_agreement": agreement,
            "seconds_per_inference": report.get("seconds_per_inference") if report else None,
            "ok": not failures}
    print(json.dumps(line))
    for f in failures:
        print(f"FAIL {a.runtime} on {a.variant} ({a.io} io): {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
