"""Runners that process many captures at once (the local runner lives in ``pipelines/interpolate``).

``ray_runner``: captures in parallel on long-lived Ray worker actors, one interpolator each, which
Ray restarts when their process dies; needs the optional extra ``viewsynth[ray]`` and is imported
on demand, never at package import. ``worker``: the body of one such worker, plain Python.
"""
