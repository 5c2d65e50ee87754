#!/usr/bin/env bash
# Several short training variants side by side on one lent GPU, in ONE `device` call:
#
#   bash benchmarks/gpu_variants.sh SECONDS NAME "--set a=b --set c=d" [NAME "..."]...
#
# Each variant runs `pipelines/train.py --config $VS_CONFIG` (default configs/train_gpu_clean.yaml)
# in its own work folder /tmp/vs_var/NAME with the given overrides, all at the same time (the
# host CPUs are shared: give each variant data_workers ~ 14 / N). After SECONDS (leave ~40 s of the
# call for packing) a variant still running gets SIGTERM (it checkpoints and stops). Each variant
# comes back as $OUT/NAME.tar: last.msgpack (if it finished), best.msgpack, metrics.jsonl,
# train.log and its latest checkpoint. Carry `.gpu` (training data) and the init weights' folder.
set -u
DEADLINE=${1:?seconds}
shift
OUT=${OUT:-/tmp/vs_out}
CONFIG=${VS_CONFIG:-configs/train_gpu_clean.yaml}
ROOT=/tmp/vs_var
T0=$(date +%s)
mkdir -p "$OUT" "$ROOT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
# Several processes share the GPU: each may take a slice of its memory.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${VS_MEM_FRACTION:-0.25}
say() { echo "[$(date +%H:%M:%S)] $*"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
names=()
while [ $# -ge 2 ]; do
    name=$1 overrides=$2
    shift 2
    mkdir -p "$ROOT/$name"
    # shellcheck disable=SC2086  # the overrides are words on purpose
    setsid nohup python3 pipelines/train.py --config "$CONFIG" --set workdir="$ROOT/$name" \
        --set data.data_root=.gpu/data $overrides >"$ROOT/$name/train.log" 2>&1 </dev/null &
    echo $! >"$ROOT/$name/pid"
    names+=("$name")
    say "launched $name: $overrides"
done

alive() { kill -0 "$(cat "$ROOT/$1/pid")" 2>/dev/null; }
any_alive() { for n in "${names[@]}"; do alive "$n" && return 0; done; return 1; }

while any_alive && [ $(($(date +%s) - T0)) -lt "$DEADLINE" ]; do
    sleep 30
    for n in "${names[@]}"; do echo "$n: $(grep -E '^.*step [0-9]+:' "$ROOT/$n/train.log" | tail -1)"; done
done
for n in "${names[@]}"; do alive "$n" && kill -TERM "$(cat "$ROOT/$n/pid")"; done
for _ in $(seq 60); do any_alive || break; sleep 1; done

for n in "${names[@]}"; do
    d=$ROOT/$n
    last=$(ls "$d/checkpoints" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1)
    files=()
    for f in last.msgpack best.msgpack metrics.jsonl train.log; do [ -f "$d/$f" ] && files+=("$f"); done
    [ -n "$last" ] && files+=("checkpoints/$last")
    tar -C "$d" -cf "$OUT/$n.tar" "${files[@]}"
    say "$n: packed ${files[*]}"
    grep -E "val step|error|Error|stopping|diverged" "$d/train.log" | tail -4
done
