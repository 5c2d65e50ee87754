"""``viewsynth evaluate``: score interpolation methods on datasets, all on the same frames.

    viewsynth evaluate DATASET... [--method M ...] [--iters K ...] [--rolled]
                       [--external NAME='cmd {list}'] [-o REPORT_DIR]

    DATASET: middlebury_other/  input/<seq>/frame10.png, frame11.png; gt/<seq>/frame10i11.png
             ucf101_triplets/   <id>/frame0.png, frame1.png (the middle), frame2.png (or Vimeo-90K's
                                im1, im2, im3; PNG or JPEG)
             vimeo_triplet/     Vimeo-90K: sequences/00001/0389/im1..3.png and tri_testlist.txt
                                (the triplets scored; or name a list file, e.g. tri_trainlist.txt)
             capture/ or clip.mp4   leave-one-out: frame i from i-1 and i+1 (--every, --parity,
                                    --gap G: from i-G and i+G)
             --render N / --synthetic N   generated panoramas (--size WxH, --seed)
        │
        ▼  every method on every triplet; the result rounded to uint8, then scored
    REPORT_DIR/  results.json  table.md  quality_vs_speed.png  per_sample_<set>.png
                 montage_<set>.png (crops across the 360 seam: ground truth, then each method)
    Panoramas are scored with WS-PSNR and with rc-WS-PSNR: WS-PSNR after the output's best
    global rotation of the sphere (at most 5 degrees per angle) against the ground truth. 2:1
    frames are panoramas as a job decides (tags, else whether the edges meet; --projection).

An external method is any command containing ``{list}``: it is run once per dataset with a file of
``img0 img1 out`` lines (absolute PNG paths, middle frame wanted) and must write every ``out``;
for example ``--external dis='viewsynth pair --method flow --list {list}'``. With ``{list_t}``
instead, its lines are ``img0 img1 out t`` (any t in (0, 1)).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import sys
from pathlib import Path

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.datasets import open_dataset, render_set, rolled, synthetic_set
from viewsynth.evaluation.evaluate import evaluate, tell_notes
from viewsynth.evaluation.peers import PEERS, parse_external, resolve_methods
from viewsynth.evaluation.report import run_info, write_report
from viewsynth.frames import new_run_dir
from viewsynth.pipelines.options import Parser, integer, writable_folder

REPO = Path(__file__).resolve().parents[1]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if min(w, h) < 16:
        raise argparse.ArgumentTypeError(f"width and height must be at least 16, got {text!r}")
    return w, h


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(
        prog="viewsynth evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument("datasets", nargs="*", metavar="DATASET", help="dataset folder or video")
    p.add_argument("--method", nargs="+", choices=PEERS, default=list(PEERS), help="methods")
    p.add_argument("--iters", nargs="+", type=int, default=[], help="rnn iterations K, each run")
    p.add_argument(
        "--weights", help="rnn weights (default: the shipped model; rnn skipped if none)"
    )
    p.add_argument(
        "--photos-weights", metavar="FILE",
        help="rnn: the network for ordinary photos with a pose (default: --weights if a photos "
        "network, else the shipped one)",
    )  # fmt: skip
    p.add_argument(
        "--rolled", action="store_true", help="also run panoramas rolled by half a width"
    )
    p.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="NAME='cmd {list}'",
        help="a peer's command; {list} (midpoints) or {list_t} (any t) is its job file",
    )
    p.add_argument("--every", type=int, default=1, help="leave-one-out: every k-th frame")
    p.add_argument("--parity", choices=("all", "odd", "even"), default="all", help="leave-one-out")
    p.add_argument("--gap", type=int, default=1, help="leave-one-out: frame i from i-GAP and i+GAP")
    p.add_argument(
        "--limit", type=integer(0), default=0, help="at most this many samples per set (0: all)"
    )
    p.add_argument(
        "--fit-times", nargs="+", type=float, default=[], metavar="T",
        help="leave-one-out panoramas: also score at these t, keep the best (trc-WS-PSNR)",
    )  # fmt: skip
    p.add_argument(
        "--render", type=integer(0), default=0, metavar="N", help="N held-out rendered panoramas"
    )
    p.add_argument(
        "--synthetic", type=integer(0), default=0, metavar="N", help="N synthetic triplets"
    )
    p.add_argument(
        "--size", type=_size, default=(1024, 512), help="generated sets (default 1024x512)"
    )
    p.add_argument(
        "--seed", type=int, help="generated sets (default: the benchmark's held-out seed, 0)"
    )
    p.add_argument(
        "--projection", choices=("auto", "equirect", "perspective"), default="auto",
        help="the sets' frames: auto decides 2:1 frames by their tags and seam, as a job does",
    )  # fmt: skip
    p.add_argument(
        "--hfov", type=float, default=0.0, metavar="DEG",
        help="ordinary frames without a focal length: the camera's horizontal field of view "
        "(as capture.hfov; default 60)",
    )  # fmt: skip
    p.add_argument("-o", "--output", type=Path, help="report folder (default out/evaluate/<time>)")
    args = p.parse_args(argv)
    if not (args.hfov == 0.0 or 1.0 <= args.hfov < 180.0):  # (also NaN)
        p.error(f"--hfov must be degrees in [1, 180), got {args.hfov}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    writable_folder(args.output, "-o")
    for path in args.datasets:  # its report's PNGs would be read as frames of a leave-one-out set
        if args.output and Path(path).is_dir() and args.output.resolve() == Path(path).resolve():
            raise ViewsynthError(
                f"-o {args.output}: the dataset {path} itself; give another folder"
            )
    externals = [parse_external(spec) for spec in args.external]
    methods, notes = resolve_methods(args.method, args.iters, args.weights, args.photos_weights)
    datasets = [
        open_dataset(path, args.every, args.parity, args.gap, projection=args.projection)
        for path in args.datasets
    ]
    width, height = args.size
    if args.render:
        datasets.append(render_set(args.render, width, height, args.seed))
    if args.synthetic:
        datasets.append(synthetic_set(args.synthetic, width, height, args.seed or 0))
    if not datasets:
        raise ViewsynthError("give at least one DATASET (or --render N / --synthetic N)")
    if not methods and not externals:
        raise ViewsynthError("no method left to run: " + "; ".join(notes))
    if not all(0.0 < t < 1.0 for t in args.fit_times):
        raise ViewsynthError(f"--fit-times: each t must lie in (0, 1), got {args.fit_times}")
    for dataset in datasets:
        dataset.limit = args.limit
        dataset.hfov = 0.0 if dataset.equirect else args.hfov
        if dataset.kind != "render":  # the renders' middle view is exact: nothing to fit
            dataset.fit_times = tuple(args.fit_times)
    if args.rolled:
        for dataset in list(datasets):
            if dataset.equirect:
                datasets.append(rolled(dataset))
            else:
                notes.append(f"{dataset.name}: not panoramas, so no rolled run")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    command = "viewsynth evaluate " + " ".join(shlex.quote(a) for a in argv)
    info = run_info(REPO, command)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = evaluate(datasets, methods, externals, log=log)
    tell_notes(results, log)
    out = args.output or new_run_dir(Path("out") / "evaluate", stamp)
    settings = {"argv": list(argv), "methods": [m.label for m in methods]}
    table = write_report(out, info, results, (), notes, settings, title="Evaluation")
    print(table)
    print(f"report: {out}", file=sys.stderr)
    return 0
