"""The `flow` method (and the rnn's classical start) under other OpenCV DIS settings.

    .venv/bin/python benchmarks/dis_settings.py

Scores the `flow` method with DIS's "medium" preset (what viewsynth uses) and with one setting
changed at a time, on data that is never an evaluation set: 40 triplets of the udacity clip
(gaps 1 and 2, spread over the whole clip; real video), 10 street panoramas 512x256 and 10
perspective street views 256x256 rendered from training-range seeds (77,000 and 88,000). PSNR on
the uint8 output (WS-PSNR for panoramas), and the wall time of the whole variant. Needs
../shared/data for the video. Session 6: no variant beat "medium" on the real video.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewsynth.interpolators import Flow  # noqa: E402
from viewsynth.training import losses, render  # noqa: E402
from viewsynth.training.loop import video_triplets  # noqa: E402
from viewsynth.training.sources import read_video  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "udacity_driving" / "solidWhiteRight.mp4"

#: One DIS setter changed from the "medium" preset per variant.
VARIANTS = {
    "medium": {},
    "finest scale 0": {"FinestScale": 0},
    "variational refinement 10": {"VariationalRefinementIterations": 10},
    "patch 12": {"PatchSize": 12},
    "patch stride 2": {"PatchStride": 2},
    "gradient descent 50": {"GradientDescentIterations": 50},
}


def main() -> int:
    if not VIDEO.is_file():
        print(f"{VIDEO}: not found (needs ../shared/data)", file=sys.stderr)
        return 2
    textures = render.make_textures(77_000)
    sets = {
        "video": video_triplets(list(read_video(VIDEO)), 40, 8),
        "pano": [
            render.street_triplet(77_000 + i, textures, width=512, height=256, equirect=True)
            for i in range(10)
        ],
        "persp": [
            render.street_triplet(88_000 + i, textures, width=256, height=256, equirect=False)
            for i in range(10)
        ],
    }
    create = cv2.DISOpticalFlow_create
    print("| DIS | video PSNR | panoramas WS-PSNR | perspective PSNR | seconds |")
    print("|---|---:|---:|---:|---:|")
    try:
        for name, setters in VARIANTS.items():

            def make(preset, setters=setters):
                dis = create(preset)
                for key, value in setters.items():
                    getattr(dis, "set" + key)(value)
                return dis

            cv2.DISOpticalFlow_create = make  # what viewsynth.interpolators.dis_flow calls
            flow = Flow()
            start = time.perf_counter()
            scores = {
                key: np.mean(
                    [
                        losses.psnr_uint8(
                            flow(tr.img0, tr.img1, [tr.t], equirect=tr.equirect)[0],
                            tr.mid,
                            equirect=tr.equirect,
                        )
                        for tr in triplets
                    ]
                )
                for key, triplets in sets.items()
            }
            took = time.perf_counter() - start
            print(
                f"| {name} | {scores['video']:.3f} | {scores['pano']:.3f} | "
                f"{scores['persp']:.3f} | {took:.1f} |",
                flush=True,
            )
    finally:
        cv2.DISOpticalFlow_create = create
    return 0


if __name__ == "__main__":
    sys.exit(main())
