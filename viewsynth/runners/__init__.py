"""Runners that process many captures at once (the local runner lives in ``pipelines/interpolate``).

``ray_runner``: captures in parallel on a pool of long-lived Ray workers, one interpolator each;
needs the optional extra ``viewsynth[ray]`` and is imported on demand, never at package import.
"""
