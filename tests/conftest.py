"""Suite-wide settings. `make test` runs the files on two workers (pytest-xdist, whole files per
worker so module fixtures such as the one tiny training run are made once); the files that take
longest are handed out first, so the two workers finish together."""

from __future__ import annotations

# Measured with --durations on the 2-core machine: these files hold most of the suite's time.
HEAVY_FIRST = (
    "test_train.py",
    "test_model.py",
    "test_walkthrough.py",
    "test_rnn_interpolator.py",
    "test_ray_runner.py",
    "test_cli.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within
