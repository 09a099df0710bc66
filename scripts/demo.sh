#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Runs experiments/demo.yaml (generate → curate → snapshot →
# midtrain → AFT → eval for two spec variants) on SmolLM2-135M and prints the report's path and summary.
# Rerunning resumes: finished stages are cached by the hash of their inputs.
set -euo pipefail
WS="${1:-msm-workspace}"
MSM=".venv/bin/msm --workspace $WS"

$MSM init
echo "== specs"
$MSM spec validate specs/*.yaml
echo "== experiment: experiments/demo.yaml"
start=$(date +%s)
$MSM experiment run experiments/demo.yaml
echo
echo "demo finished in $(( $(date +%s) - start )) s (workspace: $WS)"
echo "open the report: $WS/reports/demo/report.html"
