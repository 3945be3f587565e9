#!/usr/bin/env bash
# Reproduces the shipped EmotionNet Nano weights and the cross-validation results in models/.
# Resumable: finished folds (models/cv/<run>/fold-K.json) and finished models are skipped, and an
# interrupted fold or final training resumes from its last epoch checkpoint in .train/.
#
#   models/reproduce.sh nano-b        # 7-class CV + final, then 8-class final + CV, for one variant
#   COMMIT=1 models/reproduce.sh ...  # also git-commit each result as it appears (own paths only)
#   ORDER="final7 cv7" models/reproduce.sh nano-a   # choose and order the steps
#   EPOCHS / EPOCHS8 set the epochs of the 7-class / 8-class runs (defaults: what was shipped)
#   INIT=<dir> fine-tunes from pretrained training-form weights (default since session 10: the end (epoch 60, EMA weights) of
#   the variant's distilled FER+ run, checkpoints/pretrained/<variant>-kd-e60 (from checkpoints/fer-<variant>-kd); before:
#   <variant>-fer-e24, epoch 24 of the plain FER+ run, now models/cv-experiments/*-pre24); INIT=none trains from scratch)
#   EMA=<decay> adds --ema <decay> (evaluate/export a moving average of the weights; unset: off; same result dirs)
#   SOUP=<K> adds --soup K (train seeds 1..K per fold / final model and evaluate/export the uniform
#   average of their weights: K× the training time, the same inference cost; 1: off; default since
#   session 11: 5 for nano-a (its shipped recipe), 1 for nano-b; same
#   result dirs, so move earlier fold records away first; the fold records and summary also give
#   each seed's own CV mean, i.e. the seed-to-seed spread of the CV figure)
#   Checkpoints go to .train/<run>-<init>-e<epochs>[-ema<decay>][-soup<K>]: a changed recipe starts its own
#   checkpoints (the trainer refuses to resume one written with other options).
#
# Needs ../shared/datasets/ck-plus (CK+ is research-use only; see models/README.md).
set -u
cd "$(dirname "$0")/.."
VARIANT="${1:-nano-b}"
case "$VARIANT" in
  nano-b) DEFAULT_INIT=checkpoints/pretrained/nano-b-kd-e60; DEFAULT_SOUP=1 ;;  # end of the distilled FER+ run (session 10; before: nano-b-fer-e24)
  nano-a) DEFAULT_INIT=checkpoints/pretrained/nano-a-kd-e60; DEFAULT_SOUP=5 ;;  # the same for Nano-A; a soup of seeds 1-5 since session 11
  *) DEFAULT_INIT=none; DEFAULT_SOUP=1 ;;
esac
SOUP="${SOUP:-$DEFAULT_SOUP}"
INIT="${INIT:-$DEFAULT_INIT}"
if [ "$INIT" = none ]; then
  EPOCHS="${EPOCHS:-40}"    # ck48: epochs over distinct sequences (one random frame of each per epoch)
  EPOCHS8="${EPOCHS8:-30}"  # peak_neutral48: one image per sequence and label already
  TRAIN=(node --import tsx src/cli/train.ts --backend wasm)
else
  EPOCHS="${EPOCHS:-30}"    # fine-tuning converges sooner
  EPOCHS8="${EPOCHS8:-12}"  # about as many optimizer steps as the 30 ck48 epochs
  TRAIN=(node --import tsx src/cli/train.ts --backend wasm --init "$INIT")
fi
if [ -n "${EMA:-}" ]; then TRAIN+=(--ema "$EMA"); fi
SOUP_TAG=""
if [ -n "${SOUP:-}" ] && [ "$SOUP" != 1 ]; then TRAIN+=(--soup "$SOUP"); SOUP_TAG="-soup$SOUP"; fi
DATA="${DATA:-../shared/datasets/ck-plus}"
epochs_for() { if [ "$1" = peak_neutral48 ]; then echo "$EPOCHS8"; else echo "$EPOCHS"; fi; }
work_for() { echo ".train/$1-$(basename "$INIT")-e$(epochs_for "$2")${EMA:+-ema$EMA}$SOUP_TAG"; }  # work_for <run> <dataset>

commit() { # commit the given paths (retry while another engineer holds the index lock)
  [ "${COMMIT:-0}" = "1" ] || return 0
  local msg="$1"; shift
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    git add -- "$@" 2>/dev/null && git commit -q -m "$msg" -- "$@" && return 0
    git diff --cached --quiet -- "$@" 2>/dev/null && git diff --quiet -- "$@" 2>/dev/null && return 0
    sleep 5
  done
  echo "commit failed: $msg" >&2
}

cv() { # cv <dataset> <variant> <name>
  local ds="$1" v="$2" run="$1-$2"
  for f in 0 1 2 3 4 5 6 7 8 9; do
    if [ -f "models/cv/$run/fold-$f.json" ]; then continue; fi
    "${TRAIN[@]}" --epochs "$(epochs_for "$ds")" --data "$DATA/$ds" --variant "$v" --cv 10 --folds "$f" --results "models/cv/$run" --work "$(work_for "$run" "$ds")" || return 1
    commit "models: $run CV fold $f" "models/cv/$run"
  done
}

final() { # final <dataset> <variant> <name>
  local ds="$1" v="$2" name="$3"
  if [ -f "models/$name/model.json" ]; then return 0; fi
  "${TRAIN[@]}" --epochs "$(epochs_for "$ds")" --data "$DATA/$ds" --variant "$v" --out "models/$name" --name "$name" --work "$(work_for "$ds-$name" "$ds")" || return 1
  commit "models: $name weights (trained on all of $ds)" "models/$name"
}

# ORDER: steps to run, in order (default: 7-class CV, 7-class final, 8-class final, 8-class CV).
for step in ${ORDER:-cv7 final7 final8 cv8}; do
  case "$step" in
    cv7) cv ck48 "$VARIANT" ;;
    final7) final ck48 "$VARIANT" "$VARIANT" ;;
    final8) final peak_neutral48 "$VARIANT" "$VARIANT-8" ;;
    cv8) cv peak_neutral48 "$VARIANT" ;;
    *) echo "unknown step $step" >&2; false ;;
  esac || exit 1
done
