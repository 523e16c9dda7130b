#!/usr/bin/env python3
"""Per-second quality of two encodes of one source: reads the per-frame stats files of
ffmpeg's psnr and ssim filters (encode A against the source, encode B against the source),
groups the frames into windows of `fps` frames (one second), and prints the window where B
falls furthest below A, in PSNR (from the window's mean squared error) and in SSIM (the
window's mean).

    windows.py FPS PSNR_A PSNR_B SSIM_A SSIM_B
prints: worst_psnr_delta_db at_second psnr_a psnr_b worst_ssim_delta at_second ssim_a ssim_b
"""
import math
import sys


def per_frame(path, key):
    out = []
    with open(path) as f:
        for line in f:
            fields = dict(p.split(":", 1) for p in line.split() if ":" in p)
            out.append(float(fields[key]))
    return out


def windows(values, fps):
    return [values[i:i + fps] for i in range(0, len(values), fps)]


def psnr(mses):
    mse = sum(mses) / len(mses)
    return 100.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def main():
    fps = int(round(float(sys.argv[1])))
    pa, pb = (windows(per_frame(p, "mse_avg"), fps) for p in sys.argv[2:4])
    sa, sb = (windows(per_frame(p, "All"), fps) for p in sys.argv[4:6])
    if len(pa) != len(pb) or len(sa) != len(sb):
        sys.exit("windows.py: the two encodes have different frame counts")
    dp = [(psnr(b) - psnr(a), i, psnr(a), psnr(b)) for i, (a, b) in enumerate(zip(pa, pb))]
    ds = [(sum(b) / len(b) - sum(a) / len(a), i, sum(a) / len(a), sum(b) / len(b))
          for i, (a, b) in enumerate(zip(sa, sb))]
    p, s = min(dp), min(ds)
    print("%.2f %d %.2f %.2f %.4f %d %.4f %.4f" % (p[0], p[1], p[2], p[3], s[0], s[1], s[2], s[3]))


main()
