"""Can the depth search see where the truth is? Its 1-D cost against the renderer's depth.

    python benchmarks/depth_window.py [--weights runs/train_depth29/last.msgpack] [--count 16]
        [--width 384] [--spacing 0.5 5.0] [--step 0.04]

On held-out street panorama triplets (seeds from HELDOUT_SEED up) whose pose is usable, at the
network's 1/stride cells with a known depth: how far the sweep's start ``q0`` is from the
renderer's inverse depth of the middle view (baselines^-1, pooled as the depth loss pools it),
the share of cells whose truth lies inside the search's window (``q0 +- radius x step``), and,
there, how often the cost's best hypothesis (the largest feature correlation) is the one nearest
the truth (chance: 1 / hypotheses) and on the truth's side of ``q0`` (chance 3/7 with 7; TRAINING_LOG, session 16:
the check asked for before another run of the depth search).
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.model.rays import DepthSearch, cell_lookups, lookups
from viewsynth.model.warp import avg_pool, sample
from viewsynth.model.weights import load_described
from viewsynth.synth import HELDOUT_SEED, make_textures, street_triplet
from viewsynth.training.batch import stack_batch


def colour_cost(search: DepthSearch, f0, f1, width: int, height: int):
    """Minus the squared colour difference of both inputs where each hypothesis looks them up
    (the lookups of :func:`viewsynth.model.rays.depth_cost`): (B, h, w, hypotheses)."""
    out = []
    for offset in np.asarray(search.offsets):
        low = cell_lookups(
            search.a_low,
            search.b_low,
            search.q0 + offset,
            stride=search.s,
            width=width,
            height=height,
        )
        s0 = sample(f0, low[0], low[1], equirect=True)
        s1 = sample(f1, low[2], low[3], equirect=True)
        out.append(-jnp.sum((s0 - s1) ** 2, axis=-1))
    return jnp.stack(out, axis=-1)


def full_colour_cost(search: DepthSearch, img0, img1, width: int, height: int):
    """Minus the squared colour difference at the input's pixels, each hypothesis moving every
    pixel's own depth (``q_full + offset``), averaged over each 1/stride cell: (B, h, w, N)."""
    out = []
    for offset in np.asarray(search.offsets):
        x0, y0, x1, y1 = lookups(
            search.a, search.b, search.q_full + offset, width=width, height=height
        )
        s0 = sample(jnp.asarray(img0), x0, y0, equirect=True)
        s1 = sample(jnp.asarray(img1), x1, y1, equirect=True)
        out.append(avg_pool(-jnp.sum((s0 - s1) ** 2, axis=-1, keepdims=True), search.s)[..., 0])
    return jnp.stack(out, axis=-1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="runs/train_depth29/last.msgpack")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--spacing", type=float, nargs=2, default=None, help="metres, min max")
    parser.add_argument(
        "--step", type=float, default=None, help="hypotheses' spacing (default: the model's)"
    )
    parser.add_argument(
        "--full", action="store_true",
        help="with --colours: the colour difference at the input's own pixels, averaged over each "
        "1/stride cell (an 8x8 window), instead of the colours average-pooled first",
    )  # fmt: skip
    parser.add_argument(
        "--colours", action="store_true",
        help="score the hypotheses by the colour difference of the two inputs (average-pooled to "
        "1/stride) instead of the network's feature correlation: a check of the lookups alone",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        model, _ = load_described(args.weights)
    except ViewsynthError as error:  # a missing or unreadable file: one line
        raise SystemExit(f"depth_window: {error}") from None
    cfg = model.config
    if not cfg.depth_search:
        raise SystemExit(f"{args.weights}: not a depth-search network (model.depth_search)")
    w, h = args.width, args.width // 2
    textures = make_textures(HELDOUT_SEED)
    extra = {} if args.spacing is None else {"spacing": tuple(args.spacing)}
    err, inside, best, side = [], [], [], []
    for i in range(args.count):
        tr = street_triplet(HELDOUT_SEED + i, textures, width=w, height=h, **extra)
        batch = stack_batch([tr], classical_init=True, geometry="depth")
        if not np.any(batch.init.geo_b):  # no usable pose: no depth to search
            continue
        enc = model.encode(jnp.asarray(batch.img0), jnp.asarray(batch.img1), equirect=True)
        step = cfg.depth_step if args.step is None else args.step
        search = DepthSearch(
            batch.init, stride=cfg.stride, radius=cfg.depth_radius, step=step, height=h, width=w
        )
        if args.colours and args.full:
            cost = np.asarray(full_colour_cost(search, batch.img0, batch.img1, w, h))[0]
        elif args.colours:
            f0, f1 = (avg_pool(jnp.asarray(x), cfg.stride) for x in (batch.img0, batch.img1))
            cost = np.asarray(colour_cost(search, f0, f1, w, h))[0]
        else:
            cost = np.asarray(search.cost(enc.f0, enc.f1, search.q0, equirect=True))[0]
        q0 = np.asarray(search.q0)[0, ..., 0]
        s = cfg.stride
        truth = batch.depth[0].reshape(h // s, s, w // s, s)
        hits = (truth > 0).mean(axis=(1, 3))
        target = np.where(
            hits > 0.5, truth.sum(axis=(1, 3)) / np.maximum((truth > 0).sum(axis=(1, 3)), 1), np.nan
        )
        ok = np.isfinite(target)
        offsets = np.asarray(search.offsets)
        gap = target - q0
        err.append(np.abs(gap[ok]))
        within = ok & (np.abs(gap) <= offsets[-1] + search.step / 2)
        inside.append(within[ok])
        nearest = np.argmin(np.abs(gap[..., None] - offsets), axis=-1)
        top = np.argmax(cost, axis=-1)
        mid = len(offsets) // 2
        best.append((top == nearest)[within])
        moved = within & (nearest != mid)
        side.append((np.sign(top - mid) == np.sign(nearest - mid))[moved])
    if not err:
        raise SystemExit("no pair had a usable pose")
    cat = np.concatenate
    print(
        f"{len(err)} pairs with a pose, {cat(err).size} cells with a depth; "
        f"|q_true - q0|: mean {cat(err).mean():.3f}, median {np.median(cat(err)):.3f} baselines^-1"
    )
    print(
        f"truth inside the window (+-{offsets[-1]:.2f}): {100 * cat(inside).mean():.1f}% of cells"
    )
    print(
        f"there, the cost's best hypothesis is the truth's nearest: {100 * cat(best).mean():.1f}% "
        f"(chance {100 / len(offsets):.1f}%); on the truth's side of q0 where it moved: "
        f"{100 * cat(side).mean():.1f}% of {cat(side).size} cells (chance 3/7, 43%)"
    )


if __name__ == "__main__":
    main()
