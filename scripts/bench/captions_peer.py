"""Peer for `iprod bench caption-extraction`: RapidOCR's Python pipeline (PP-OCRv6,
the same models iprod uses) on frames sampled at FPS from the bottom quarter
of the video (the way video-subtitle-extractor and similar tools work):
each sample is read, consecutive samples with the same text become one cue.

usage: captions_peer.py VIDEO OUT.srt FPS
"""
import difflib
import json
import subprocess
import sys

import numpy as np
from rapidocr import RapidOCR


def main() -> None:
    video, out, fps = sys.argv[1], sys.argv[2], float(sys.argv[3])
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "json", video],
        check=True, capture_output=True).stdout)
    w, h = probe["streams"][0]["width"], probe["streams"][0]["height"]
    top = (h * 3 // 4) // 2 * 2
    ch = h - top
    ff = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", video, "-vf", f"fps={fps},crop={w}:{ch}:0:{top}",
         "-f", "rawvideo", "-pix_fmt", "bgr24", "-"], stdout=subprocess.PIPE)
    # Detection at the crop's own size (at most 960 px): RapidOCR's default
    # (shorter side scaled up to 736 px) makes a 1280x180 strip 5200x736 and
    # takes seconds per frame.
    engine = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "error",
                              "Det.limit_type": "max", "Det.limit_side_len": 960})
    samples = []
    size = w * ch * 3
    i = 0
    while True:
        buf = ff.stdout.read(size)
        if len(buf) < size:
            break
        img = np.frombuffer(buf, np.uint8).reshape(ch, w, 3)
        result = engine(img)
        txts = result.txts or ()
        samples.append((i / fps, "\n".join(t.strip() for t in txts if t.strip())))
        i += 1
    ff.wait()
    cues = []
    for t, text in samples:
        if cues and text and difflib.SequenceMatcher(None, cues[-1][2], text).ratio() >= 0.7 \
                and abs(cues[-1][1] - t) < 1.5 / fps:
            cues[-1][1] = t + 1 / fps
        elif text:
            cues.append([t, t + 1 / fps, text])

    def stamp(s: float) -> str:
        ms = int(round(s * 1000))
        return f"{ms // 3600000:02}:{ms // 60000 % 60:02}:{ms // 1000 % 60:02},{ms % 1000:03}"

    with open(out, "w", encoding="utf-8") as f:
        for n, (a, b, text) in enumerate(cues, 1):
            f.write(f"{n}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n")


if __name__ == "__main__":
    main()
