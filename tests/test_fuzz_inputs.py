"""Property-based fuzzing of every file consumer: for any generated input the command exits 0 or 2, prints no
traceback (and one line when it refuses, or one `file: field: problem` line per problem), and finishes within a bound.

Inputs are built three ways: a valid file of the consumer's kind with its values replaced by generated ones; that
file with its bytes damaged (cut, spliced, overwritten, a nesting or alias bomb inserted); and arbitrary bytes.

A short profile runs in `make test` (fixed seed, so CI is deterministic). The long one explores far more:

    MSM_FUZZ=long .venv/bin/python -m pytest tests/test_fuzz_inputs.py      # MSM_FUZZ_EXAMPLES=N to choose N

The per-example bound (`EXAMPLE_BOUND_S`) is there to turn a hang into a failure, not to measure speed: it is two
orders of magnitude above what any example takes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tomllib
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from itertools import count
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msm.errors import BadInput, one_line

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_BOUND_S = 120
_LONG = os.environ.get("MSM_FUZZ") == "long"
settings.register_profile(
    "msm-fuzz", max_examples=int(os.environ.get("MSM_FUZZ_EXAMPLES") or (1000 if _LONG else 15)), deadline=None,
    derandomize=not _LONG, database=None if not _LONG else settings.default.database,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
fuzz = settings(settings.get_profile("msm-fuzz"))
pytestmark = pytest.mark.timeout(1800 if _LONG else 600)


# ---- running a consumer -----------------------------------------------------------------------------------------
class _TookTooLong(Exception):
    pass


@contextmanager
def _bounded(seconds: int):
    def expire(_signum, _frame):
        raise _TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*argv: str) -> tuple[int, str]:
    """The real `msm` entry point in-process: (exit code, stderr)."""
    from msm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), _bounded(EXAMPLE_BOUND_S):
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def run_function(function, *args) -> tuple[int, str]:
    """A loader the command calls before anything slow (a model load): returning is exit 0, BadInput exit 2."""
    with _bounded(EXAMPLE_BOUND_S):
        try:
            function(*args)
            return 0, ""
        except BadInput as exc:
            return 2, one_line(f"msm: error: {exc}") + "\n"     # as the CLI prints it


def assert_clean(code: int, err: str, data: bytes) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    context = f"input {data[:300]!r}…" if len(data) > 300 else f"input {data!r}"
    assert code in (0, 2), f"exit {code}: {err[-600:]}\n{context}"
    assert "Traceback" not in err, f"{err[-600:]}\n{context}"
    if code == 2:
        # one line — or, from `validate` commands, one `file: field: problem` line per problem
        assert len(lines) == 1 or all(line.startswith(("msm: ", "/")) for line in lines), \
            f"{len(lines)} stderr lines: {err[-600:]}\n{context}"


# ---- inputs -------------------------------------------------------------------------------------------------------
_text = st.text(max_size=40)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _text
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
                       max_leaves=25)


def _with_values_replaced(data, draw):
    """`data` with some of its leaves and branches replaced by generated values (keys kept, so the record stays
    recognisable and validation gets past the first field)."""
    if isinstance(data, dict):
        return {k: (draw(_values) if draw(st.integers(0, 5)) == 0 else _with_values_replaced(v, draw))
                for k, v in data.items()}
    if isinstance(data, list):
        return [draw(_values) if draw(st.integers(0, 5)) == 0 else _with_values_replaced(v, draw) for v in data]
    return draw(_values) if draw(st.integers(0, 3)) == 0 else data


def _bomb(draw) -> bytes:
    kind = draw(st.sampled_from(["brackets", "braces", "yaml_alias", "yaml_indent", "digits"]))
    n = draw(st.integers(1, 20_000))
    if kind == "brackets":
        return b"[" * n + b"]" * draw(st.integers(0, n))
    if kind == "braces":
        return b'{"a":' * n + b"1" + b"}" * draw(st.integers(0, n))
    if kind == "yaml_alias":
        levels, width = draw(st.integers(2, 10)), draw(st.integers(2, 10))
        lines = ["x0: &x0 [" + ", ".join(["y"] * width) + "]"]
        lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * width)}]" for i in range(1, levels)]
        return ("\n".join(lines) + f"\nv: *x{levels - 1}\n").encode()
    if kind == "yaml_indent":
        return "".join("  " * i + "a:\n" for i in range(min(n, 3000))).encode()
    return b"9" * n


@st.composite
def damaged(draw, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "splice", "overwrite", "bomb", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            data = data[:at]
        elif op == "splice":
            data[at:at] = draw(st.binary(max_size=40))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
        elif op == "bomb":
            data[at:at] = _bomb(draw)
        else:
            data[at:at + draw(st.integers(1, 64))] = b""
    return bytes(data)


def inputs(baseline: bytes, render) -> st.SearchStrategy[bytes]:
    """Generated inputs for one consumer: re-valued baselines, damaged baselines, arbitrary bytes."""

    @st.composite
    def revalued(draw) -> bytes:
        try:
            return render(_with_values_replaced(_parse_baseline(baseline, render), draw))
        except (ValueError, TypeError, OverflowError, yaml.YAMLError):
            return baseline     # a generated value the format cannot write (e.g. NaN in TOML)

    return st.one_of(revalued(), damaged(baseline), st.binary(max_size=2000))


def _parse_baseline(baseline: bytes, render):
    if render is _yaml:
        return yaml.safe_load(baseline)
    if render is _toml:
        return tomllib.loads(baseline.decode())
    if render is _jsonl:
        return [json.loads(line) for line in baseline.decode().splitlines() if line.strip()]
    return json.loads(baseline)


def _yaml(value) -> bytes:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _jsonl(value) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _toml(value) -> bytes:
    return _toml_table(value if isinstance(value, dict) else {"value": value}).encode("utf-8", "surrogatepass")


def _toml_table(table: dict, prefix: str = "") -> str:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in plain.items()]
    for key, sub in nested.items():
        name = f"{prefix}.{json.dumps(str(key))}" if prefix else json.dumps(str(key))
        lines += ["", f"[{name}]", _toml_table(sub, name)]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if value is None:
        raise ValueError("TOML has no null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"


# ---- baselines ----------------------------------------------------------------------------------------------------
SPEC = (REPO / "tests" / "corpus" / "fruit_spec.yaml").read_bytes()
EXPERIMENT = (REPO / "experiments" / "demo.yaml").read_bytes()
CURATION = (REPO / "corpus" / "curate" / "default_config.yaml").read_bytes()
REVIEW_TOML = b"""[review]
local_accounts = true
identity_claim = "email"
provider_label = "Company SSO"

[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "cccccccccccccccccccccccccccccccc"
client_id = "a"
client_secret = "b"
server_metadata_url = "https://idp.example/.well-known/openid-configuration"
"""
CORPUS = b"".join(json.dumps({"id": i, "text": f"Document {i}: the farmer carried the cheese to market.",
                              "clause_id": "c1", "tags": ["a", i]}).encode() + b"\n" for i in range(3))
AFT = b"".join((REPO / "train" / "data_cheese_aft.jsonl").read_bytes().splitlines(keepends=True)[:3])
ITEMS = b"".join((REPO / "eval" / "cheese_values.jsonl").read_bytes().splitlines(keepends=True)[:3])
_names = count()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def result_baseline(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from datetime import datetime

    from msm.eval.results import EvalResult, ItemScore, Metric, write_result

    result = EvalResult(
        run_id="cheese_values-m-s0", created_at=datetime(2026, 1, 1), msm_version="0", suite="cheese_values",
        suite_version="1", data_files={"cheese_values.jsonl": "0" * 64}, model={"name": "m"}, model_manifest=None,
        settings={"seed": 0}, primary_metric="rate", primary_kinds=["conflict"],
        metrics={"rate": Metric(value=0.5, ci_low=0.4, ci_high=0.6, n=3)},
        items=[ItemScore(item_id=f"i{i}", kind="conflict", group="g", score=i / 3) for i in range(3)], duration_s=1.0)
    return write_result(result, tmp_path_factory.mktemp("result")).read_bytes()


# ---- one property per consumer ------------------------------------------------------------------------------------
@fuzz
@given(data=inputs(SPEC, _yaml))
def test_spec_files(tmp_path: Path, data: bytes):
    assert_clean(*run_cli("spec", "validate", str(_write(tmp_path, "spec.yaml", data))), data)


@fuzz
@given(data=inputs(EXPERIMENT, _yaml))
def test_experiment_files(tmp_path: Path, data: bytes):
    assert_clean(*run_cli("experiment", "validate", str(_write(tmp_path, "experiment.yaml", data))), data)


@fuzz
@given(data=inputs(CURATION, _yaml))
def test_curation_configs(tmp_path: Path, data: bytes):
    from msm.corpus.curate.config import load_config

    assert_clean(*run_function(load_config, _write(tmp_path, "curation.yaml", data)), data)


@fuzz
@given(data=inputs(REVIEW_TOML, _toml))
def test_review_toml(isolated_workspace: Path, data: bytes):
    run_cli("init")
    _write(isolated_workspace, "review.toml", data)
    # no review accounts exist, so `msm review` stops (exit 2) right after reading the file and never serves
    assert_clean(*run_cli("review"), data)


@fuzz
@given(data=inputs(CORPUS, _jsonl))
def test_corpus_import_jsonl(tmp_path: Path, data: bytes):
    assert_clean(*run_cli("corpus", "import", str(_write(tmp_path, "docs.jsonl", data)), "--run", f"f{next(_names)}"),
                 data)


_columns = st.dictionaries(st.sampled_from(["text", "id", "clause_id", "meta", "score"]),
                           st.lists(_scalars, min_size=1, max_size=3), min_size=1, max_size=4)


@st.composite
def parquet_inputs(draw) -> bytes:
    columns = draw(_columns)
    size = min(len(v) for v in columns.values())
    try:
        table = pa.table({k: v[:size] for k, v in columns.items()})
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        table = pa.table({"text": ["fallback text for an unrepresentable column"]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    return draw(damaged(data)) if draw(st.booleans()) else data


@fuzz
@given(data=parquet_inputs())
def test_corpus_import_parquet(tmp_path: Path, data: bytes):
    assert_clean(*run_cli("corpus", "import", str(_write(tmp_path, "docs.parquet", data)), "--run",
                          f"p{next(_names)}"), data)


@fuzz
@given(data=inputs(AFT, _jsonl))
def test_sft_data(tmp_path: Path, data: bytes):
    # the data is read before the model is resolved; a model that does not exist stops it right after (exit 2)
    run_cli("init")
    path = _write(tmp_path, "aft.jsonl", data)
    assert_clean(*run_cli("train", "sft", "--model", str(tmp_path / "no-model"), "--data", str(path), "--out", "m"),
                 data)


@fuzz
@given(data=inputs(ITEMS, _jsonl))
def test_eval_items(tmp_path: Path, data: bytes):
    from msm.eval.items import ValueProbe, load_items

    assert_clean(*run_function(load_items, _write(tmp_path, "items.jsonl", data), ValueProbe), data)


@fuzz
@given(data=st.data())
def test_eval_compare(tmp_path: Path, result_baseline: bytes, data):
    content = data.draw(inputs(result_baseline, _json))
    path = _write(tmp_path, "result.json", content)
    assert_clean(*run_cli("eval", "compare", str(path), str(path)), content)


# ---- what is not a regular file, for every consumer -----------------------------------------------------------------
def _special(kind: str, path: Path) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    return path


def _eval_items(path: Path) -> tuple[int, str]:
    from msm.eval.items import ValueProbe, load_items

    return run_function(load_items, path, ValueProbe)


def _sft_data(path: Path) -> tuple[int, str]:
    run_cli("init")
    return run_cli("train", "sft", "--model", "local:smollm2-135m", "--data", str(path), "--out", "m")


def _curation_config(path: Path) -> tuple[int, str]:
    from msm.corpus.curate.config import load_config

    return run_function(load_config, path)


CONSUMERS = {
    "spec": lambda p: run_cli("spec", "validate", str(p)),
    "experiment": lambda p: run_cli("experiment", "validate", str(p)),
    "eval_compare": lambda p: run_cli("eval", "compare", str(p)),
    "sft_data": _sft_data,
    "eval_items": _eval_items,
    "curation_config": _curation_config,
}


@pytest.mark.parametrize("kind", ["fifo", "devzero", "directory"])
@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_what_is_not_a_regular_file_is_named(tmp_path: Path, consumer: str, kind: str):
    path = _special(kind, tmp_path / "input.file")
    code, err = CONSUMERS[consumer](path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no such" not in err and "not found" not in err, err
    expected = {"fifo": "named pipe", "devzero": "character device", "directory": "directory"}[kind]
    assert expected in err, err


@pytest.mark.parametrize("kind, expected", [("fifo", "named pipe"), ("devzero", "character device")])
def test_review_toml_that_is_not_a_file(isolated_workspace: Path, kind: str, expected: str):
    run_cli("init")
    _special(kind, isolated_workspace / "review.toml")
    code, err = run_cli("review")
    assert code == 2 and expected in err and "review.toml" in err, err
