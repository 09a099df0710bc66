#!/usr/bin/env bash
# Do the version floors in pyproject.toml hold? Installs, in a fresh venv, every direct dependency at exactly
# its floor (`name>=X` becomes `name==X`; their own dependencies resolve to whatever pip picks, as for a user
# who has the old version of one of them) for the base install plus the extras below, then runs the fast
# unit tests (`-m "not slow"`: everything but the tests that load the embedded model, start servers or drive
# a browser). torch stays torch==2.13.0, the CPU build this machine serves: its floor is not checked here.
#
#   bash scripts/check_min_versions.sh            # or: make min-versions
#   MIN_VENV=/tmp/v bash scripts/check_min_versions.sh -k dedup    # other venv; extra args go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${MIN_VENV:-$ROOT/.venv-min}"
PYTHON="${PYTHON:-python3}"
# The extras whose floors are checked with the base install: ray (scale), the trackers other than
# TensorBoard and the serving extra are left out — the fast tests do not use them.
EXTRAS="review,mipro,gguf,tensorboard"
cd "$ROOT"

"$PYTHON" -m venv --clear "$VENV"
FLOORS="$VENV/floors.txt"
"$PYTHON" - "$EXTRAS" > "$FLOORS" <<'PY'
import re, sys, tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = list(project["dependencies"])
for extra in sys.argv[1].split(","):
    wanted += project["optional-dependencies"][extra]
floors = {}
for requirement in wanted:
    match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", requirement)
    name, spec = match.group(1).lower(), match.group(3)
    low = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", spec)
    if name in ("torch", "msm-midtrain") or not low:
        continue
    floors[name] = low.group(1)
print("\n".join(f"{name}=={version}" for name, version in sorted(floors.items())))
PY
echo "== floors ($FLOORS)"; cat "$FLOORS"

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install torch==2.13.0
"${PIP[@]}" install -e ".[$EXTRAS]" "pytest>=8" "pytest-timeout>=2.3" -c "$FLOORS"
"$VENV/bin/python" -m pip freeze --exclude-editable > "$VENV/installed.txt"
echo "== installed at the floors"
grep -i -f <(sed 's/==.*//; s/^/^/; s/$/==/' "$FLOORS") "$VENV/installed.txt" || true

# its own model cache: the embedded model converted by these versions (a newer transformers writes a tokenizer
# config an older one cannot read)
export MSM_TEST_CACHE="${MIN_TEST_CACHE:-$ROOT/.cache/msm-test-min}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$VENV/bin/python" -m pytest -m "not slow" -q -p no:cacheprovider "$@"
