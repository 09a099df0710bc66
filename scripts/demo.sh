#!/usr/bin/env bash
# The main job on the embedded default, as far as the pipeline exists today.
set -euo pipefail
WS="${1:-msm-workspace}"
MSM=".venv/bin/msm --workspace $WS"

$MSM init
echo "== specs"
$MSM spec validate specs/*.yaml
$MSM spec list
echo "== embedded model"
$MSM models list
echo
echo "Next stages (generate, curate, review, snapshot, train, eval, experiment) are tracked in the open issues;"
echo "the README lists every command."
