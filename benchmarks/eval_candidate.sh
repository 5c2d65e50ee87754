#!/usr/bin/env bash
# Every set of the training issue for one weights file, rnn at K=2 (flow beside it on Lund and the
# renders): benchmarks/eval_candidate.sh WEIGHTS NAME -> runs/eval_NAME/{real,lund,lund_ft}/table.md
# (Middlebury + UCF101; Lund odd + 8 held-out renders plain and rolled; Lund odd after fine-tuning
# on the even photos). Needs ../shared/data.
set -euo pipefail
W=$1; N=$2; VS=.venv/bin/viewsynth
D=../shared/data
( $VS evaluate $D/middlebury_other $D/ucf101_triplets --method rnn --iters 2 --weights $W -o runs/eval_$N/real > runs/eval_$N.real.log 2>&1 ) &
( $VS evaluate $D/lund/images --parity odd --render 8 --rolled --method flow rnn --iters 2 --weights $W -o runs/eval_$N/lund > runs/eval_$N.lund.log 2>&1
  /usr/bin/time -f "finetune wall %e s" $VS finetune $D/lund/images -o runs/lund_even_$N.msgpack --targets even --steps 100 --weights $W > runs/eval_$N.ft.log 2>&1
  $VS evaluate $D/lund/images --parity odd --method rnn --iters 2 --weights runs/lund_even_$N.msgpack -o runs/eval_$N/lund_ft > runs/eval_$N.lundft.log 2>&1 ) &
wait
echo done
