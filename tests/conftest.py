"""Suite-wide settings. `make test` runs the files on two workers (pytest-xdist, whole files per
worker so module fixtures such as the one tiny training run are made once); the files that take
longest are handed out first, so the two workers finish together."""

from __future__ import annotations

import signal

# A suite started in the background by a shell without job control (`nohup make test &`) inherits
# SIGINT ignored, and Python then sets no KeyboardInterrupt handler, in itself or in the jobs the
# tests start: the Ctrl-C tests would test nothing and time out. Ctrl-C is put back as a terminal
# gives it (the jobs started from here inherit it, exec turning the handler into the default).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Measured with --durations on the 2-core machine (the sum of each file's tests, heaviest first):
# test_train about 29% of the suite, then these at 13% down to 3%.
HEAVY_FIRST = (
    "test_train.py",
    "test_rnn_interpolator.py",
    "test_visibility_supervision.py",
    "test_model.py",
    "test_batch.py",
    "test_walkthrough.py",
    "test_fuse.py",
    "test_render.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within
