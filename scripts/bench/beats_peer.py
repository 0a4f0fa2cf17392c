"""Beat benchmark, Python side: runs the peer on every audio file, then
scores iprod's beats (written by `iprod bench beat-detection`) and the peer's
against the annotations with mir_eval (F-measure at +-70 ms, CMLt, AMLt;
mir_eval's default of ignoring the first 5 s) and downbeat F-measure on
position-1 beats. Prints one table.

The peer is librosa.beat.beat_track (after one warm-up call, so numba's
compilation is not counted), or madmom's RNNDownBeatProcessor +
DBNDownBeatTrackingProcessor (networks loaded before the clock starts).

Usage: beats_peer.py DATA_DIR OURS_DIR [librosa|madmom] [EXCERPT_S]
                     [--save DIR] [--with NAME=DIR ...] [--tuned ID,ID...]
  DATA_DIR: <name>.<audio ext> and <name>.beats (time [TAB position])
  OURS_DIR: <name>.beats written by iprod, and timing.json {name: seconds};
            with EXCERPT_S > 0, <name>@<start>.beats for each excerpt
            [start, start + EXCERPT_S) (times in the file's timeline): the
            peer analyses the same excerpt, and both are scored on it as on
            a clip of its own (times from the excerpt's start).
  --save DIR: only run the peer and write its beats and timing.json to DIR
            (so that a peer needing another Python can join the table).
  --with NAME=DIR: also score the beats a --save run wrote to DIR.
  --tuned IDS: files named <group>_<id> with these ids are the part the
            constants were chosen on; means are also printed for that part
            and for the rest. Files so named also get a mean per group.
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


def pieces_of(ours):
    """(row name, file stem, excerpt start) for every piece iprod analysed."""
    pieces = []
    for n in sorted(os.listdir(ours)):
        if not n.endswith(".beats"):
            continue
        row = n[: -len(".beats")]
        stem, _, start = row.partition("@")
        pieces.append((row, stem, float(start) if start else 0.0))
    pieces.sort(key=lambda p: (p[1], p[2]))
    return pieces


def run_peer(name, files, pieces, excerpt):
    """Runs peer `name` on every piece: {row: (times, positions, seconds)}."""
    peer = {"librosa": librosa_peer, "madmom": madmom_peer}[name](files[pieces[0][1]])
    out = {}
    for row, stem, start in pieces:
        t0 = time.perf_counter()
        if excerpt > 0:
            times, positions = peer(files[stem], start, excerpt)
            times = np.asarray(times) + start
        else:
            times, positions = peer(files[stem])
        out[row] = (np.asarray(times), positions, time.perf_counter() - t0)
    return out


def save(result, folder):
    os.makedirs(folder, exist_ok=True)
    timing = {}
    for row, (times, positions, seconds) in result.items():
        with open(os.path.join(folder, row + ".beats"), "w") as f:
            for k, t in enumerate(times):
                f.write(f"{t:.3f}\t{int(positions[k]) if positions is not None else 0}\n")
        timing[row] = seconds
    with open(os.path.join(folder, "timing.json"), "w") as f:
        json.dump(timing, f)


def load(folder):
    with open(os.path.join(folder, "timing.json")) as f:
        timing = json.load(f)
    out = {}
    for row, seconds in timing.items():
        times, positions = read_beats(os.path.join(folder, row + ".beats"))
        out[row] = (times, positions if positions.any() else None, seconds)
    return out


def group_of(row):
    """`gtzan_jazz_00004` -> `gtzan_jazz`: files named <group>_<id>."""
    stem = row.partition("@")[0]
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() else None


def main():
    args = sys.argv[1:]
    opts = {"--save": None, "--tuned": None}
    extra = []
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opts:
            opts[args[i]] = args[i + 1]
            i += 2
        elif args[i] == "--with":
            name, _, folder = args[i + 1].partition("=")
            extra.append((name, folder))
            i += 2
        else:
            pos.append(args[i])
            i += 1
    data, ours = pos[0], pos[1]
    peer_name = pos[2] if len(pos) > 2 else "librosa"
    excerpt = float(pos[3]) if len(pos) > 3 else 0.0
    files = {os.path.splitext(n)[0]: os.path.join(data, n) for n in os.listdir(data) if n.endswith(AUDIO)}
    pieces = pieces_of(ours)
    if opts["--save"]:
        save(run_peer(peer_name, files, pieces, excerpt), opts["--save"])
        return
    methods = [("iprod", load(ours)), (peer_name, run_peer(peer_name, files, pieces, excerpt))]
    methods += [(name, load(folder)) for name, folder in extra]

    # scores[method][row] = (F, CMLt, AMLt, downbeat F or None, seconds)
    scores_of = {name: {} for name, _ in methods}
    for row, stem, start in pieces:
        ref, ref_pos = read_beats(os.path.join(data, stem + ".beats"))
        if excerpt > 0:
            keep = (ref >= start) & (ref < start + excerpt)
            ref, ref_pos = ref[keep] - start, ref_pos[keep]
        for name, result in methods:
            times, positions, seconds = result.get(row, (np.array([]), None, float("nan")))
            scores_of[name][row] = scores(ref, ref_pos, times - start, positions) + (seconds,)

    fmt = lambda x: f"{x:.3f}" if x is not None else "  -  "
    names = [name for name, _ in methods]
    head = f"{'file':<24}" + "".join(f" | {n[:10]:>10} {'CMLt':>5} {'AMLt':>5} {'downF':>5} {'s':>6}" for n in names)
    print(head)
    for row, _, _ in pieces:
        print(f"{row:<24}" + "".join(
            " | {:>10} {:>5} {:>5} {:>5} {:6.3f}".format(*(fmt(v) for v in scores_of[n][row][:4]), scores_of[n][row][4])
            for n in names))
    mean = lambda xs: float(np.mean([x for x in xs if x is not None])) if any(x is not None for x in xs) else None

    def summary(label, rows):
        if not rows:
            return
        print(f"{label:<24}" + "".join(
            " | {:>10} {:>5} {:>5} {:>5} {:6.2f}".format(
                *(fmt(mean([scores_of[n][r][i] for r in rows])) for i in range(4)),
                sum(scores_of[n][r][4] for r in rows))
            for n in names))

    rows = [r for r, _, _ in pieces]
    groups = sorted({group_of(r) for r in rows} - {None})
    if len(groups) > 1:
        print(f"{'by group (mean)':<24}")
        for g in groups:
            summary(g, [r for r in rows if group_of(r) == g])
    if opts["--tuned"]:
        ids = set(opts["--tuned"].split(","))
        tuned = [r for r in rows if r.partition("@")[0].rpartition("_")[2] in ids]
        summary(f"tuned on ({len(tuned)})", tuned)
        summary(f"held out ({len(rows) - len(tuned)})", [r for r in rows if r not in tuned])
    summary("mean", rows)
    ours_t = sum(scores_of["iprod"][r][4] for r in rows)
    parts = []
    for n in names:
        f, c, a, d = (mean([scores_of[n][r][i] for r in rows]) for i in range(4))
        parts.append(f"{n} F={f:.3f} CMLt={c:.3f} AMLt={a:.3f} downbeat F={fmt(d)}")
    print("beats: " + "; ".join(parts))
    print("time: " + ", ".join(
        f"{n} {sum(scores_of[n][r][4] for r in rows):.2f} s" for n in names)
        + "".join(f"; iprod/{n} {ours_t / sum(scores_of[n][r][4] for r in rows):.3f}" for n in names[1:]))


if __name__ == "__main__":
    main()
