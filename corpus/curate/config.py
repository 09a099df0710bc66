"""The curation config: dedup settings plus named filter rules, read from YAML and validated before any work.

A filter rule is a boolean DuckDB SQL *expression* over the signal columns (see `signals.SIGNAL_COLUMNS`)
that is TRUE when the document should be dropped, e.g.

    - name: too_few_words
      expr: "word_count < $min_words"
      params: {min_words: 50}
      source: "Gopher (Rae et al. 2021), App. A.1.1"

Thresholds belong in `params`: they are bound as prepared-statement parameters, never pasted into SQL. The
expression itself is parsed by DuckDB (`json_serialize_sql`), its syntax tree is checked against an allow-list
(column references, constants, parameters, comparisons, boolean logic, arithmetic, CASE/CAST and a short list of
scalar functions — no subqueries, no table functions, no file readers), parameter names are prefixed with the
rule's index so rules cannot collide, and the SQL that runs is re-generated from that checked tree
(`json_deserialize_sql`). Unknown columns, syntax errors, unknown parameters and forbidden constructs are
BadInput (exit 2) naming the config file and the rule.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from msm.errors import BadInput, first_line
from msm.yaml_files import read_yaml_mapping

CURATION_SCHEMA_VERSION = 1
DEFAULT_MAX_BUCKET_NEIGHBOURS = 64
DEFAULT_CONFIG_NAME = "default_config.yaml"
CHAT_CONFIG_NAME = "chat_config.yaml"

# Scalar functions a rule may call. Everything reads only the row it is given.
_ALLOWED_FUNCTIONS = {
    "abs", "least", "greatest", "coalesce", "ifnull", "nullif", "ln", "log", "log10", "log2", "sqrt", "round",
    "floor", "ceil", "length", "lower", "upper", "contains", "starts_with", "ends_with", "prefix", "suffix",
    "regexp_matches", "len", "list_contains", "+", "-", "*", "/", "//", "%", "~~", "!~~", "~~*", "!~~*",
}
_ALLOWED_CLASSES = {"COLUMN_REF", "CONSTANT", "PARAMETER", "COMPARISON", "CONJUNCTION", "OPERATOR", "BETWEEN",
                    "CASE", "CAST", "FUNCTION"}
_FORBIDDEN_OPERATOR_TYPES = {"COMPARE_IN_SUBQUERY", "ARRAY_CONSTRUCTOR_SUBQUERY"}


class DedupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shingle_words: int = Field(3, ge=1, le=16, description="Word n-gram size of the MinHash shingles.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (signature length).")
    threshold: float = Field(0.5, gt=0, lt=1, description="Estimated Jaccard at or above which a candidate pair "
                                                          "counts as a near-duplicate (verification).")
    lsh_weights: tuple[float, float] = Field((0.2, 0.8), description="MinHashLSH (false-positive, false-negative) "
                                                                     "weights; recall-leaning, verification removes FPs.")
    hash_scheme: str = Field("affine32", description="datasketch permutation scheme: affine32 or affine64.")
    seed: int = 1
    workers: int = Field(2, ge=1, le=64, description="Threads that compute signatures (local engine; the Ray "
                                                     "engine uses the cluster's CPUs).")
    max_bucket_neighbours: int = Field(DEFAULT_MAX_BUCKET_NEIGHBOURS, ge=1, le=100_000, description=(
        "Cap for an oversized LSH bucket: each member is paired with at most this many following members in "
        "document order (verified links still chain the whole bucket). The same in both engines."))

    @field_validator("hash_scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value not in ("affine32", "affine64"):
            raise ValueError(f"hash_scheme {value!r} must be 'affine32' or 'affine64'")
        return value


class FilterRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    expr: str = Field(min_length=1, max_length=2000)
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    action: str = Field("drop", pattern=r"^(drop|flag)$", description="drop: document is not kept; flag: recorded only.")
    source: str | None = Field(None, description="Where the rule and its threshold come from.")
    description: str | None = None


class CurationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CURATION_SCHEMA_VERSION
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    filters: list[FilterRule] = Field(default_factory=list)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


@dataclass(frozen=True)
class CompiledRule:
    name: str
    sql: str                      # regenerated from the checked syntax tree, parameters renamed
    params: dict[str, Any]        # renamed parameter -> value
    action: str
    origin: str = ""              # "<config file>: filters[i] (rule 'name')", for errors found while it runs


def default_config_path(name: str = DEFAULT_CONFIG_NAME) -> Path:
    return Path(str(resources.files("msm.corpus.curate").joinpath(name)))


def default_config_for(store: Any) -> Path:
    """The shipped config for a run's kind: chats (`msm aft generate` runs) get `chat_config.yaml` — web-document
    quality rules (50+ words, punctuated lines) would drop short, good chats — documents `default_config.yaml`."""
    kind = store.config().get("kind")
    return default_config_path(CHAT_CONFIG_NAME if kind == "aft" else DEFAULT_CONFIG_NAME)


MARKS_ONLY = "paper"  # `--config paper`: the replication's curation (see marks_only)


def marks_only(config: CurationConfig) -> CurationConfig:
    """The paper replication's curation: every rule of `config` marks (action flag) and none drops, except one
    rule that drops empty documents — the paper's only filter. Run it with `--steps filters` (dedup drops)."""
    rules = [r.model_copy(update={"action": "flag"}) for r in config.filters if r.name != "empty_document"]
    empty = FilterRule(name="empty_document", expr="word_count = 0", action="drop",
                       source="the paper's pipeline drops only empty documents")
    return config.model_copy(update={"filters": [empty, *rules]})


def load_config(path: str | Path | None = None) -> tuple[CurationConfig, str]:
    """(config, the file it came from). BadInput names the file and field on any problem. `paper` names the
    shipped default config in marks-only form (`marks_only`)."""
    if path is not None and str(path) == MARKS_ONLY:
        config, shown = load_config(default_config_path())
        return marks_only(config), f"{MARKS_ONLY} (marks only: {Path(shown).name}, every rule flags; empty drops)"
    path = Path(path) if path else default_config_path()
    shown = str(path)
    data = read_yaml_mapping(path, what="curation config", max_bytes=1024 * 1024)
    try:
        config = CurationConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        rule = _rule_name_at(data, err["loc"])
        raise BadInput(f"{shown}: {loc}{rule}: {err['msg'].removeprefix('Value error, ')}") from None
    names = [r.name for r in config.filters]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{shown}: filters: rule name {dupes[0]!r} is used twice")
    return config, shown


def _rule_name_at(data: dict, loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "filters" and isinstance(loc[1], int):
        try:
            return f" (rule {data['filters'][loc[1]].get('name')!r})"
        except (AttributeError, IndexError, KeyError, TypeError):
            return ""
    return ""


def compile_rules(config: CurationConfig, signal_columns: dict[str, str], source: str) -> list[CompiledRule]:
    """Check every rule against the signal schema; return the SQL to run. BadInput names the failing rule."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE signals (" + ", ".join(f'"{c}" {t}' for c, t in signal_columns.items()) + ")")
        # One row to evaluate each rule on: over an empty table DuckDB never casts, so `word_count > 'abc'` would
        # pass here and fail on the documents with an error naming neither file nor rule. Ones (not zeros), so
        # ln/log/sqrt of a count stay defined.
        con.execute("INSERT INTO signals VALUES (" + ", ".join(
            "true" if t == "BOOLEAN" else "1" for t in signal_columns.values()) + ")")
        compiled = []
        for index, rule in enumerate(config.filters):
            where = f"{source}: filters[{index}] (rule {rule.name!r})"
            tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [f"SELECT ({rule.expr}) FROM signals"]).fetchall()[0][0])
            if tree.get("error"):
                raise BadInput(f"{where}: expr does not parse: {tree.get('error_message', 'syntax error')}")
            statements = tree["statements"]
            node = statements[0]["node"] if len(statements) == 1 else None
            if node is None or node.get("type") != "SELECT_NODE" or len(node["select_list"]) != 1 \
                    or node.get("where_clause") or node.get("group_expressions") or node.get("modifiers"):
                raise BadInput(f"{where}: expr must be a single boolean expression")
            used_params: set[str] = set()
            _check_tree(node["select_list"][0], where, used_params, prefix=f"r{index}_")
            missing = sorted(used_params - set(rule.params))
            if missing:
                raise BadInput(f"{where}: expr uses ${missing[0]} but params has no {missing[0]!r}")
            unused = sorted(set(rule.params) - used_params)
            if unused:
                raise BadInput(f"{where}: params.{unused[0]} is not used by expr")
            sql = con.execute("SELECT json_deserialize_sql(?)", [json.dumps(tree)]).fetchall()[0][0]
            expression_sql = sql.removeprefix("SELECT ").rsplit(" FROM signals", 1)[0]
            params = {f"r{index}_{k}": v for k, v in rule.params.items()}
            try:
                con.execute(f"SELECT CAST(({expression_sql}) AS BOOLEAN) FROM signals", params).fetchall()
            except duckdb.Error as exc:
                raise BadInput(f"{where}: {first_line(exc)}") from None
            compiled.append(CompiledRule(rule.name, expression_sql, params, rule.action, where))
        return compiled
    finally:
        con.close()


def _check_tree(node: Any, where: str, params: set[str], prefix: str) -> None:
    """Walk the parsed expression: allow-listed node classes and functions only; rename parameters."""
    if isinstance(node, list):
        for item in node:
            _check_tree(item, where, params, prefix)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class")
    if cls is not None and cls != "TYPE":
        if cls not in _ALLOWED_CLASSES or node.get("type") in _FORBIDDEN_OPERATOR_TYPES:
            raise BadInput(f"{where}: {cls.lower()} expressions are not allowed in a filter rule")
        if cls == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if name not in _ALLOWED_FUNCTIONS or node.get("schema") or node.get("catalog"):
                raise BadInput(f"{where}: function {name!r} is not allowed in a filter rule")
        if cls == "PARAMETER":
            identifier = str(node.get("identifier", ""))
            if not identifier or identifier.isdigit():
                raise BadInput(f"{where}: use named parameters ($name) with values in `params`, not ? or $1")
            params.add(identifier)
            node["identifier"] = prefix + identifier
    for key, value in node.items():
        if key == "identifier":
            continue
        _check_tree(value, where, params, prefix)
