#!/bin/sh
# Rebuilds the shipped 甄嬛 pack (personas/zhen-huan) from the 甄嬛传 TV script:
# episodes 1-20 and 31-76 in ../shared/data/scripts/ (21-30 are not there).
# `make zhen-huan` runs this; extra arguments go to `persona build` (e.g. --resume
# after a kill). On 2 idle CPU cores the training takes about 25 minutes and the
# eval about 15. Then the sampling sweep (about 15 minutes more; SWEEP=0 skips it)
# ranks six temperature / repetition-penalty settings by the style score and
# writes the best into the pack's [sampling] (sampling_sweep.json has the table).
set -eu
DATA=${DATA:-../shared/data/scripts}
PERSONA=${PERSONA:-.venv/bin/persona}
"$PERSONA" build "$DATA"/zhenhuan_ep*.txt \
  --character 甄嬛 --title 甄嬛传 \
  --description "大理寺少卿甄远道之女，入宫后由莞常在做到熹贵妃" \
  --history 2 --max-len 256 --epochs 1 \
  -o personas/zhen-huan --overwrite "$@"
if [ "${SWEEP:-1}" != 0 ]; then
  "$PERSONA" eval personas/zhen-huan --sweep-sampling --apply
fi
