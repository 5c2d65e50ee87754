"""Evaluation: score interpolators against ground truth, time them, and write the benchmark report.

The wing reads like the job:
- ``metrics``: PSNR, SSIM, IE, WS-PSNR and seam WS-PSNR on uint8 images (what a user gets).
- ``detail``: how much fine detail a frame holds: the detail ratio against the truth, and a
  walkthrough's pulse (its mid-pair frames against its photos), step ratio and motion step ratio
  (the steps at its photos against the others, as they are and low-passed; issue 33).
- ``rotation``: rotation-compensated WS-PSNR (the output's best small rotation of the sphere
  against the truth, then WS-PSNR), for real hand-held 360 footage.
- ``datasets``: where triplets ``(img0, gt, img1, t)`` come from (Middlebury layout, triplet folders,
  leave-one-out on any capture or video read through ``viewsynth.capture``, and the generated sets
  of ``viewsynth.synth``: held-out street renders, moving textures), and the "rolled" variant that
  puts the 360 seam through the middle of the content.
- ``peers``: the methods compared: ours (``rnn`` at several K), ``flow``, ``linear``, FFmpeg
  ``minterpolate`` and any external command given as a template.
- ``evaluate``: every method on the same frames, per-sample scores and seam crops; the benchmark
  config schema. Photos are asked with their field of view, as a job asks.
- ``contrast``: where the default wins and loses most against ``flow`` in a set, with crops.
- ``sets``: the sets as a benchmark config names them (``DatasetConfig``), and the street sets:
  video triplets at a working width, a walk by GPS distance, held-out perspective renders.
- ``speed``: seconds per frame after warm-up and peak memory, each method in its own process.
- ``job``: ``viewsynth interpolate`` itself per output frame, each method less ``--method linear``.
- ``walk``: every method's walkthrough of a real walk, in process: its pulse and step ratios.
- ``progress``: done, left and the estimated time left of a long run, one line per step.
- ``report``: ``results.json``, the markdown table, crop montages, the published section of
  docs/BENCHMARK.md; ``plots``: quality against speed, per-sample scores.
"""
