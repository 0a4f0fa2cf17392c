"""Beat benchmark, Python side: runs the peer on every audio file, then
scores iprod's beats (written by `iprod bench beat-detection`) and the peer's
against the annotations with mir_eval (F-measure at +-70 ms, CMLt, AMLt;
mir_eval's default of ignoring the first 5 s) and downbeat F-measure on
position-1 beats. Prints one table.

The peer is librosa.beat.beat_track (after one warm-up call, so numba's
compilation is not counted), or madmom's RNNDownBeatProcessor +
DBNDownBeatTrackingProcessor (networks loaded before the clock starts).

Usage: beats_peer.py DATA_DIR OURS_DIR [librosa|madmom] [EXCERPT_S]
  DATA_DIR: <name>.<audio ext> and <name>.beats (time [TAB position])
  OURS_DIR: <name>.beats written by iprod, and timing.json {name: seconds};
            with EXCERPT_S > 0, <name>@<start>.beats for each excerpt
            [start, start + EXCERPT_S) (times in the file's timeline): the
            peer analyses the same excerpt, and both are scored on it as on
            a clip of its own (times from the excerpt's start).
"""
import json
import os
import sys
import time

import numpy as np
import mir_eval

AUDIO = (".flac", ".wav", ".mp3", ".ogg", ".m4a", ".aac", ".mp4")


def read_beats(path):
    times, positions = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            times.append(float(parts[0]))
            positions.append(int(float(parts[1])) if len(parts) > 1 else 0)
    return np.array(times), np.array(positions)


def scores(ref, ref_pos, est, est_pos):
    ref_t, est_t = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    f = mir_eval.beat.f_measure(ref_t, est_t, f_measure_threshold=0.07)
    _, cmlt, _, amlt = mir_eval.beat.continuity(ref_t, est_t)
    down = None
    if est_pos is not None and (ref_pos == 1).any() and est_pos.size:
        down = mir_eval.beat.f_measure(
            mir_eval.beat.trim_beats(ref[ref_pos == 1]),
            mir_eval.beat.trim_beats(est[est_pos == 1]),
            f_measure_threshold=0.07,
        )
    return f, cmlt, amlt, down


def librosa_peer(first):
    import librosa

    # Warm-up: numba compiles librosa's kernels on first use.
    y, sr = librosa.load(first, sr=22050, mono=True, duration=5.0)
    librosa.beat.beat_track(y=y, sr=sr)

    def beats(path, start=0.0, length=None):
        y, sr = librosa.load(path, sr=22050, mono=True, offset=start, duration=length)
        _, frames = librosa.beat.beat_track(y=y, sr=sr)
        return librosa.frames_to_time(frames, sr=sr), None

    return beats


def madmom_peer(first):
    import onnxruntime
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    # The converted networks declare a 1-D output; ONNX Runtime warns on
    # every run that it is 2-D.
    onnxruntime.set_default_logger_severity(3)

    rnn = RNNDownBeatProcessor()
    dbn = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)

    def beats(path, start=0.0, length=None):
        from madmom.audio.signal import Signal

        source = path
        if start or length:
            stop = start + length if length else None
            source = Signal(path, sample_rate=44100, num_channels=1, start=start, stop=stop)
        b = dbn(rnn(source))
        if b.size == 0:
            return np.array([]), np.array([], dtype=int)
        return b[:, 0], b[:, 1].astype(int)

    return beats


def main():
    data, ours = sys.argv[1], sys.argv[2]
    peer_name = sys.argv[3] if len(sys.argv) > 3 else "librosa"
    excerpt = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    with open(os.path.join(ours, "timing.json")) as f:
        our_time = json.load(f)
    files = {os.path.splitext(n)[0]: os.path.join(data, n) for n in os.listdir(data) if n.endswith(AUDIO)}
    # (row name, file name, excerpt start) for every piece iprod analysed.
    pieces = []
    for n in sorted(os.listdir(ours)):
        if not n.endswith(".beats"):
            continue
        row = n[: -len(".beats")]
        stem, _, start = row.partition("@")
        pieces.append((row, stem, float(start) if start else 0.0))
    pieces.sort(key=lambda p: (p[1], p[2]))
    peer = {"librosa": librosa_peer, "madmom": madmom_peer}[peer_name](files[pieces[0][1]])

    rows = []
    for row, stem, start in pieces:
        ref, ref_pos = read_beats(os.path.join(data, stem + ".beats"))
        est, est_pos = read_beats(os.path.join(ours, row + ".beats"))
        t0 = time.perf_counter()
        if excerpt > 0:
            lib, lib_pos = peer(files[stem], start, excerpt)
            keep = (ref >= start) & (ref < start + excerpt)
            ref, ref_pos = ref[keep] - start, ref_pos[keep]
            est = est - start
        else:
            lib, lib_pos = peer(files[stem])
        lib_time = time.perf_counter() - t0
        o = scores(ref, ref_pos, est, est_pos)
        l = scores(ref, ref_pos, lib, lib_pos)
        rows.append((row, o, our_time.get(row, float("nan")), l, lib_time))

    fmt = lambda x: f"{x:.3f}" if x is not None else "  -  "
    print(f"{'file':<16} {'ours F':>7} {'CMLt':>6} {'AMLt':>6} {'downF':>6} {'ours s':>7} | {peer_name + ' F':>9} {'CMLt':>6} {'AMLt':>6} {'downF':>6} {'peer s':>7} {'time ratio':>10}")
    for name, o, ot, l, lt in rows:
        print(f"{name:<16} {o[0]:7.3f} {o[1]:6.3f} {o[2]:6.3f} {fmt(o[3]):>6} {ot:7.3f} | {l[0]:9.3f} {l[1]:6.3f} {l[2]:6.3f} {fmt(l[3]):>6} {lt:7.3f} {ot / lt:10.3f}")
    mean = lambda xs: float(np.mean([x for x in xs if x is not None])) if any(x is not None for x in xs) else None
    o_f, o_c, o_a, o_d = (mean([r[1][i] for r in rows]) for i in range(4))
    l_f, l_c, l_a, l_d = (mean([r[3][i] for r in rows]) for i in range(4))
    ot, lt = sum(r[2] for r in rows), sum(r[4] for r in rows)
    print(f"{'mean':<16} {o_f:7.3f} {o_c:6.3f} {o_a:6.3f} {fmt(o_d):>6} {ot:7.3f} | {l_f:9.3f} {l_c:6.3f} {l_a:6.3f} {fmt(l_d):>6} {lt:7.3f} {ot / lt:10.3f}")
    print(f"beats: ours F={o_f:.3f} CMLt={o_c:.3f} AMLt={o_a:.3f} downbeat F={fmt(o_d)}; "
          f"{peer_name} F={l_f:.3f} CMLt={l_c:.3f} AMLt={l_a:.3f} downbeat F={fmt(l_d)}; "
          f"total time ours {ot:.2f} s, {peer_name} {lt:.2f} s, ratio {ot / lt:.3f}")


if __name__ == "__main__":
    main()
