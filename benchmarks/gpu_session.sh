#!/usr/bin/env bash
# One call of a training session on a lent GPU (the `device` tool's `run`), from the repo root:
#
#   bash benchmarks/gpu_session.sh start STEPS SECONDS   check JAX sees the GPU, launch training
#                                                        (STEPS), watch it for SECONDS
#   bash benchmarks/gpu_session.sh watch STEPS SECONDS   keep watching the run launched before; on a
#                                                        fresh machine resume it from the carried
#                                                        checkpoint; a different STEPS restarts it
#                                                        (checkpointed) with that schedule length
#
# Once the run has ended (in the last call), the shipped model is timed at 2048x1024 and 3840x1920
# on the idle GPU (gpu_speed.json). Training runs detached (setsid), so it goes on between calls while the machine is warm. Each
# call ends by copying what matters under $OUT: best.msgpack (the best validated weights),
# last.msgpack (the weights at the run's last step), ckpt.tar (the latest Orbax checkpoint, to resume on a fresh machine),
# metrics.jsonl, train.log, loss.png and gpu_speed.json. Carry `.gpu` (data: berlin photos and
# the udacity frames as a folder, since the machine has no ffmpeg; resume/ckpt.tar) and `.whl`.
set -u
MODE=${1:?start or watch}
STEPS=${2:?steps}
SECONDS_LEFT=${3:?seconds to watch}
OUT=${OUT:-/tmp/vs_out}
CONFIG=${VS_CONFIG:-configs/train_gpu.yaml}  # VS_CONFIG / VS_SKIP_SPEED: for a dry run on a CPU
RUN=/tmp/vs_run
LOG=/tmp/vs_train.log
T0=$(date +%s)
mkdir -p "$OUT" "$RUN"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.6

say() { echo "[$(date +%H:%M:%S)] $*"; }

check_env() {
    python3 - <<'EOF'
import jax, flax, optax
print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__, jax.devices())
from flax import nnx
from viewsynth.model.weights import load_weights
from viewsynth.training import loop
m = load_weights("viewsynth/weights/default.msgpack")
opt = nnx.Optimizer(m, loop.make_optimizer(loop.OptimConfig(), 10)[0], wrt=nnx.Param)
print("viewsynth imports and builds its optimizer: ok")
EOF
}

setup_env() {  # the device's own packages, or the carried wheels if those fail
    if ! check_env; then
        say "device packages fail; trying the carried wheels"
        [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site:$PWD
        check_env || exit 3
    fi
}

# The trainer's PID is kept in $RUN/train.pid: only that process is watched or stopped.
running() { [ -f "$RUN/train.pid" ] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; }

launch() {
    say "launching training, steps $STEPS"
    setsid nohup python3 pipelines/train.py --config "$CONFIG" \
        --set workdir=$RUN --set data.data_root=.gpu/data --set steps="$STEPS" \
        >>"$LOG" 2>&1 </dev/null &
    echo $! >"$RUN/train.pid"
    sleep 2
}

stop() {  # SIGTERM: the trainer checkpoints and exits; killed if it takes over two minutes
    kill -TERM "$(cat "$RUN/train.pid")"
    for _ in $(seq 120); do running || return 0; sleep 1; done
    say "trainer did not stop in 120 s; killing it"
    kill -KILL "$(cat "$RUN/train.pid")"
}

pack() {
    cp -f "$LOG" "$OUT/train.log" 2>/dev/null
    for f in best.msgpack last.msgpack metrics.jsonl loss.png; do cp -f "$RUN/$f" "$OUT/" 2>/dev/null; done
    last=$(ls "$RUN/checkpoints" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1)
    if [ -n "$last" ]; then
        # Aside, then renamed: a call cut short never leaves a truncated archive.
        tar -C "$RUN/checkpoints" -cf "$OUT/ckpt.tar.part" "$last" && mv "$OUT/ckpt.tar.part" "$OUT/ckpt.tar"
        say "packed checkpoint $last"
    fi
}

setup_env
if [ "$MODE" = start ] && running; then
    say "a run is already going on this machine: use watch"
    exit 4
elif [ "$MODE" = start ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    echo "cpus: $(nproc)"
    launch
elif ! running; then
    if [ -f .gpu/resume/ckpt.tar ] && [ ! -d "$RUN/checkpoints" ]; then
        mkdir -p "$RUN/checkpoints" && tar -C "$RUN/checkpoints" -xf .gpu/resume/ckpt.tar
        cp -f .gpu/resume/best.msgpack .gpu/resume/metrics.jsonl "$RUN/" 2>/dev/null
        say "fresh machine: restored $(ls $RUN/checkpoints)"
    fi
    launch
else
    configured=$(grep -o "up to step [0-9]*" "$LOG" | tail -1 | grep -o "[0-9]*$")
    if [ "$configured" != "$STEPS" ]; then
        say "restarting with steps $STEPS (was $configured)"
        stop
        launch
    fi
fi

# Watch until the deadline (leaving time to pack), printing progress now and then.
# Packs every few minutes too: a call cut short by the lease still brings back the latest.
n=0
while [ $(($(date +%s) - T0 + 20)) -lt $((SECONDS_LEFT - 15)) ]; do
    sleep 20
    if ! running; then say "training process ended"; break; fi
    tail -1 "$LOG"
    n=$((n + 1))
    if [ $((n % 6)) -eq 0 ]; then pack >/dev/null; fi
done
pack
# Once the run has ended, time the shipped model on the idle GPU (after compile).
if ! running && [ -z "${VS_SKIP_SPEED:-}" ] && [ $(($(date +%s) - T0)) -lt $((SECONDS_LEFT - 100)) ]; then
    timeout $((SECONDS_LEFT - 20 - $(date +%s) + T0)) python3 benchmarks/model_speed.py \
        --weights viewsynth/weights/default.msgpack --sizes 2048x1024 3840x1920 --no-memory \
        --repeats 5 --out "$OUT/gpu_speed.json" 2>&1 | grep -E '^\{"size' | tail -8
fi
grep -E "val step|error|Error|done|stopping" "$LOG" | tail -6
tail -3 "$LOG"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
