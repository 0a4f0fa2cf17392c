"""Figure cut-out peers for `iprod bench matting`, on the same pictures as
iprod: rembg's U²-Net-p (rembg's own pre- and post-processing; its model
file put in U2NET_HOME by scripts/bench-matting, since rembg would fetch it
from a hub) and MediaPipe's selfie segmentation, general and landscape
(the legacy `solutions` API). Each model is loaded before the clock starts.

Usage: python matting_peer.py images LIST OUT
  LIST: lines "<name>TAB<picture path>"
  OUT:  writes OUT/<name>/<peer>.png (8-bit alpha) and OUT/timing.json
        {"<peer>/<name>": seconds}
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image

mode, listing, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode != "images":
    sys.exit(f"matting_peer: unknown mode {mode}")
items = [line.rstrip("\n").split("\t") for line in open(listing) if line.strip()]

import mediapipe as mp  # noqa: E402
from rembg import new_session, remove  # noqa: E402

u2netp = new_session("u2netp")
general = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
landscape = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)


def rembg_alpha(img):
    return np.asarray(remove(img, session=u2netp, only_mask=True).convert("L"))


def mediapipe_alpha(model):
    def run(img):
        mask = model.process(np.asarray(img)).segmentation_mask
        return (np.clip(mask, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return run


peers = {
    "rembg-u2netp": rembg_alpha,
    "mediapipe-general": mediapipe_alpha(general),
    "mediapipe-landscape": mediapipe_alpha(landscape),
}
timing = {}
for name, path in items:
    img = Image.open(path).convert("RGB")
    os.makedirs(os.path.join(out, name), exist_ok=True)
    for peer, run in peers.items():
        start = time.perf_counter()
        alpha = run(img)
        timing[f"{peer}/{name}"] = time.perf_counter() - start
        Image.fromarray(alpha, "L").save(os.path.join(out, name, f"{peer}.png"))
with open(os.path.join(out, "timing.json"), "w") as f:
    json.dump(timing, f, indent=1, sort_keys=True)
