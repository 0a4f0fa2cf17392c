"""Chorus benchmark, peer side, on every song with a <name>.chorus.lab:
- pychorus (find_and_output_chorus, 15 s clips);
- a librosa baseline: beats (beat_track), beat-synchronous chroma (CQT,
  median per beat), agglomerative segmentation into one segment per 20 s
  of audio (librosa.segment.agglomerative), segments with the same music
  (cosine similarity of their mean chroma >= 0.9) grouped, and the chorus
  the group of two or more segments with the highest mean loudness (RMS,
  dB, z-scored over the song) plus ln(its size), adjacent segments joined;
scored as iprod's bench scores ours: chorus hit rate (a detected chorus
starts within 3 s of an annotated one and covers at least half of it),
song hit (some detected chorus starts within 3 s of some annotated chorus
start), precision (detected choruses overlapping an annotated one by half
their length), and wall time. With --tuned IDS, also the means over those
songs and over the rest.

Usage: chorus_peer.py LAB_DIR AUDIO_DIR [--tuned ID,ID...]
"""
import argparse
import contextlib
import io
import math
import os
import time

import librosa
import numpy as np
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


def pychorus(audio):
    with contextlib.redirect_stdout(io.StringIO()):
        found_start = find_and_output_chorus(audio, None, CLIP)
    return [] if found_start is None else [(found_start, found_start + CLIP)]


SEGMENT_S = 20.0
SAME = 0.9


def librosa_baseline(audio):
    y, sr = librosa.load(audio, sr=22050, mono=True)
    duration = len(y) / sr
    _, beats = librosa.beat.beat_track(y=y, sr=sr)
    if len(beats) < 8:
        return []
    chroma = librosa.util.sync(librosa.feature.chroma_cqt(y=y, sr=sr), beats, aggregate=np.median)
    loud = librosa.util.sync(librosa.amplitude_to_db(librosa.feature.rms(y=y)), beats)[0]
    loud = (loud - loud.mean()) / (loud.std() + 1e-9)
    k = int(min(chroma.shape[1] - 1, max(2, round(duration / SEGMENT_S))))
    bounds = list(librosa.segment.agglomerative(chroma, k)) + [chroma.shape[1]]
    times = librosa.frames_to_time(np.concatenate([[0], beats, [len(y) // 512]]), sr=sr)
    segs = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    means = [chroma[:, a:b].mean(axis=1) for a, b in segs]
    means = [m / (np.linalg.norm(m) + 1e-9) for m in means]
    label = []
    for i, m in enumerate(means):
        same = next((label[j] for j in range(i) if float(m @ means[j]) >= SAME), None)
        label.append(max(label, default=-1) + 1 if same is None else same)
    best, chorus = None, None
    for g in set(label):
        members = [i for i, lab in enumerate(label) if lab == g]
        if len(members) < 2:
            continue
        score = float(np.mean([loud[segs[i][0]:segs[i][1]].mean() for i in members])) + math.log(len(members))
        if best is None or score > best:
            best, chorus = score, g
    found = []
    for i, (a, b) in enumerate(segs):
        if label[i] != chorus:
            continue
        start, end = float(times[a]), float(times[min(b, len(times) - 1)])
        if found and found[-1][1] == start:
            found[-1] = (found[-1][0], end)
        else:
            found.append((start, end))
    return found


def table(title, rows, tuned):
    print(title)
    print(f"{'song':<14} {'hit@3s':>6} {'song':>6} {'prec':>6} {'time s':>7}")
    for r in rows:
        print(f"{r[0]:<14} {r[1]:6.2f} {r[2]:6.2f} {r[3]:6.2f} {r[4]:7.3f}")
    groups = [("mean", rows)]
    if tuned:
        groups.append(("tuned", [r for r in rows if is_tuned(r[0], tuned)]))
        groups.append(("held out", [r for r in rows if not is_tuned(r[0], tuned)]))
    for label, part in groups:
        n = max(1, len(part))
        print(f"{f'{label} ({len(part)})':<14} {sum(r[1] for r in part) / n:6.2f} {sum(r[2] for r in part) / n:6.2f} "
              f"{sum(r[3] for r in part) / n:6.2f} {sum(r[4] for r in part):7.3f}")


def is_tuned(name, ids):
    return any(name == i or name.endswith("_" + i) for i in ids)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("lab_dir")
    parser.add_argument("audio_dir")
    parser.add_argument("--tuned", default="")
    args = parser.parse_args()
    tuned = [i.strip() for i in args.tuned.split(",") if i.strip()]
    names = sorted(n[: -len(".chorus.lab")] for n in os.listdir(args.lab_dir) if n.endswith(".chorus.lab"))
    peers = {"pychorus": pychorus, "librosa": librosa_baseline}
    rows = {p: [] for p in peers}
    for name in names:
        audio = next(
            (os.path.join(d, name + ext) for d in (args.lab_dir, args.audio_dir) for ext in AUDIO
             if os.path.exists(os.path.join(d, name + ext))),
            None,
        )
        if audio is None:
            continue
        truth = read_lab(os.path.join(args.lab_dir, name + ".chorus.lab"))
        for peer, find in peers.items():
            start = time.perf_counter()
            found = find(audio)
            seconds = time.perf_counter() - start
            hits = sum(
                any(abs(f[0] - t[0]) <= 3.0 and overlap(f, t) >= 0.5 * (t[1] - t[0]) for f in found)
                for t in truth
            )
            song = any(abs(f[0] - t[0]) <= 3.0 for f in found for t in truth)
            correct = sum(any(overlap(f, t) >= 0.5 * (f[1] - f[0]) for t in truth) for f in found)
            rows[peer].append(
                (name, hits / max(1, len(truth)), float(song), correct / len(found) if found else 0.0, seconds))
    table(f"pychorus (clip {CLIP:.0f} s)", rows["pychorus"], tuned)
    table(f"librosa baseline (agglomerative, a segment per {SEGMENT_S:.0f} s)", rows["librosa"], tuned)


if __name__ == "__main__":
    main()
