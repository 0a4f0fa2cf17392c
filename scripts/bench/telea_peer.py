"""Caption-removal peer for `iprod bench detext`: OpenCV's Telea inpainting,
frame by frame, handed the true caption mask.

Usage: python telea_peer.py CAPTIONED MASK OUT.mp4 CRF

MASK is the same captions burned over flat grey (lossless): a pixel is a
caption pixel where a frame of it is not grey; the mask is grown by one
pixel for the anti-aliased edge. The frames go to FFmpeg's libx264
(veryfast, CRF) as iprod encodes.
"""
import subprocess
import sys

import cv2
import numpy as np

captioned, mask_path, out, crf = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
video = cv2.VideoCapture(captioned)
masks = cv2.VideoCapture(mask_path)
fps = video.get(cv2.CAP_PROP_FPS) or 25.0
width = int(video.get(cv2.CAP_PROP_FRAME_WIDTH))
height = int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))
encoder = subprocess.Popen(
    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
     "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
     "-crf", crf, "-pix_fmt", "yuv420p", out],
    stdin=subprocess.PIPE,
)
kernel = np.ones((3, 3), np.uint8)
while True:
    ok, frame = video.read()
    if not ok:
        break
    ok, grey = masks.read()
    if ok:
        mask = (np.abs(grey.astype(np.int16) - 128).max(axis=2) > 4).astype(np.uint8)
        if mask.any():
            frame = cv2.inpaint(frame, cv2.dilate(mask, kernel), 3, cv2.INPAINT_TELEA)
    encoder.stdin.write(frame.tobytes())
encoder.stdin.close()
sys.exit(encoder.wait())
