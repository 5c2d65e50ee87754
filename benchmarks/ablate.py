"""Which part of a trained network helps or hurts: its flows, its fusion mask, its refinement.

    .venv/bin/python benchmarks/ablate.py WEIGHTS [--iters 2] [--sets middlebury ucf101 render512]

For every triplet the network runs from the classical (DIS) start; then its flows, mask and
refinement are swapped one at a time for the start's, and each variant is scored on the uint8
frame: PSNR (WS-PSNR on panoramas) and IE (mean absolute error in grey levels). "DIS flows + mask"
is the `flow` method itself, so each column reads as a gain or loss against it. As in the product
path, DIS runs on the unpadded frames; frames and start are padded by repeating edge pixels to a
multiple of 8 (the network's stride) and cropped back. Needs ../shared/data for Middlebury and
UCF101.

With a mask head on the refinement (``refine_mask``), "learned mask" is the recurrence's mask (the
head silenced) and "refined mask" the one after the head's per-pixel correction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewsynth.evaluation import (
    datasets,  # noqa: E402
    metrics,  # noqa: E402
)
from viewsynth.frames import to_uint8  # noqa: E402
from viewsynth.model.init import classical_init  # noqa: E402
from viewsynth.model.interpolator import pad_edges  # noqa: E402
from viewsynth.model.warp import backward_warp  # noqa: E402
from viewsynth.model.weights import load_weights  # noqa: E402
from viewsynth.training.losses import psnr_uint8  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def open_sets(names: list[str]) -> dict[str, datasets.Dataset]:
    makers = {
        "middlebury": lambda: datasets.open_dataset(DATA / "middlebury_other"),
        "ucf101": lambda: datasets.open_dataset(DATA / "ucf101_triplets"),
        "render512": lambda: datasets.render_set(8, 512, 256),
    }
    return {name: makers[name]() for name in names}


def variants(model, sample: datasets.Sample, iters: int) -> dict[str, tuple[float, float]]:
    """``(PSNR, IE)`` of each variant on one triplet."""
    eq = bool(sample.equirect)
    h, w = sample.img0.shape[:2]
    hh, ww = -(-h // 8) * 8, -(-w // 8) * 8
    top, left = (hh - h) // 2, (ww - w) // 2
    a, b = pad_edges(sample.img0[None], ww, hh), pad_edges(sample.img1[None], ww, hh)
    t = np.float32([sample.t])
    init = pad_edges(classical_init(sample.img0, sample.img1, t, equirect=eq), ww, hh)
    out = model(a, b, t, equirect=eq, iters=iters, init=init)
    head = model.refine.mask_out
    if head is not None:  # the recurrence's own mask: the same run with the head silenced
        model.refine.mask_out = None
        gru = model(a, b, t, equirect=eq, iters=iters, init=init)
        model.refine.mask_out = head
    else:
        gru = out

    def synth(f0, f1, mask, refine):
        w0 = backward_warp(a, f0, equirect=eq)
        w1 = backward_warp(b, f1, equirect=eq)
        mid = mask * w0 + (1.0 - mask) * w1
        if refine:
            x = jnp.concatenate([w0, w1, mid, mask], axis=-1)
            residual, dlogit = model.refine(x * 2.0 - 1.0, equirect=eq)
            if dlogit is not None:  # the refinement's mask correction (refine_mask)
                m = jax.nn.sigmoid(jnp.log(mask + 1e-6) - jnp.log1p(1e-6 - mask) + dlogit)
                mid = m * w0 + (1.0 - m) * w1
            mid = jnp.clip(mid + residual, 0.0, 1.0)
        return mid

    dis_mask = jax.nn.sigmoid(jnp.asarray(init.mask_logit))
    frames = {
        "full": out.frames[-1],
        "no refinement": synth(gru.flow_t0, gru.flow_t1, gru.mask, False),
        "DIS flows + learned mask": synth(init.flow_t0, init.flow_t1, gru.mask, False),
        "learned flows + DIS mask": synth(out.flow_t0, out.flow_t1, dis_mask, False),
        "DIS flows + mask (= flow)": synth(init.flow_t0, init.flow_t1, dis_mask, False),
        "DIS + refinement": synth(init.flow_t0, init.flow_t1, dis_mask, True),
    }
    if head is not None:
        frames["refined mask, no residual"] = synth(out.flow_t0, out.flow_t1, out.mask, False)
    gt = sample.gt.astype(np.float32) / 255.0
    crops = {k: np.asarray(v)[0, top : top + h, left : left + w] for k, v in frames.items()}
    return {
        k: (psnr_uint8(v, gt, equirect=eq), metrics.ie(to_uint8(v), sample.gt))
        for k, v in crops.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument(
        "--sets", nargs="+", default=["middlebury", "ucf101", "render512"],
        choices=["middlebury", "ucf101", "render512"],
    )  # fmt: skip
    args = parser.parse_args(argv)
    model = load_weights(args.weights)
    for name, dataset in open_sets(args.sets).items():
        scores: dict[str, list[tuple[float, float]]] = {}
        for sample in dataset.samples():
            for k, v in variants(model, sample, args.iters).items():
                scores.setdefault(k, []).append(v)
        print(f"{name} (PSNR / IE)", flush=True)
        for k, v in scores.items():
            psnr, ie = np.mean(v, axis=0)
            print(f"  {k:28s} {psnr:.3f} / {ie:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
