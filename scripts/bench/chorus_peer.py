"""Chorus benchmark, peer side: pychorus (find_and_output_chorus, 15 s
clips) on every song with a <name>.chorus.lab, scored as iprod's bench
chorus scores ours: chorus hit rate (a detected chorus starts within 3 s of
an annotated one and covers at least half of it), song hit (some detected
chorus starts within 3 s of some annotated chorus start), precision
(detected choruses overlapping an annotated one by half their length), and
wall time.

Usage: chorus_peer.py LAB_DIR AUDIO_DIR
"""
import contextlib
import io
import os
import sys
import time

from pychorus import find_and_output_chorus

AUDIO = (".flac", ".wav", ".mp3", ".ogg", ".m4a")
CLIP = 15.0


def read_lab(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                out.append((float(parts[0]), float(parts[1])))
    return out


def overlap(a, b):
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def main():
    lab_dir, audio_dir = sys.argv[1], sys.argv[2]
    names = sorted(n[: -len(".chorus.lab")] for n in os.listdir(lab_dir) if n.endswith(".chorus.lab"))
    rows = []
    for name in names:
        audio = next(
            (os.path.join(d, name + ext) for d in (lab_dir, audio_dir) for ext in AUDIO
             if os.path.exists(os.path.join(d, name + ext))),
            None,
        )
        if audio is None:
            continue
        truth = read_lab(os.path.join(lab_dir, name + ".chorus.lab"))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            found_start = find_and_output_chorus(audio, None, CLIP)
        seconds = time.perf_counter() - start
        found = [] if found_start is None else [(found_start, found_start + CLIP)]
        hits = sum(
            any(abs(f[0] - t[0]) <= 3.0 and overlap(f, t) >= 0.5 * (t[1] - t[0]) for f in found)
            for t in truth
        )
        song = any(abs(f[0] - t[0]) <= 3.0 for f in found for t in truth)
        correct = sum(any(overlap(f, t) >= 0.5 * (f[1] - f[0]) for t in truth) for f in found)
        rows.append((name, hits / max(1, len(truth)), float(song), correct / len(found) if found else 0.0, seconds))
    print(f"pychorus (clip {CLIP:.0f} s)")
    print(f"{'song':<14} {'hit@3s':>6} {'song':>6} {'prec':>6} {'time s':>7}")
    for r in rows:
        print(f"{r[0]:<14} {r[1]:6.2f} {r[2]:6.2f} {r[3]:6.2f} {r[4]:7.3f}")
    n = max(1, len(rows))
    print(f"{'mean':<14} {sum(r[1] for r in rows) / n:6.2f} {sum(r[2] for r in rows) / n:6.2f} "
          f"{sum(r[3] for r in rows) / n:6.2f} {sum(r[4] for r in rows):7.3f}")


if __name__ == "__main__":
    main()
