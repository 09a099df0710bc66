"""Stage settings records (msm.settings): `msm generate`'s options are generated from GenerateRequest, every
experiment section's flags are options of the stage command it runs, and a record survives the round trip through
its own command line."""

from __future__ import annotations

import click
import click.testing
import pytest

from msm.cli import cli
from msm.corpus.aft.api import AftRequest
from msm.corpus.curate.request import CurateRequest
from msm.corpus.generate.api import GenerateOptions, GenerateRequest
from msm.corpus.generate.cli import generate_command
from msm.experiment import config as xc
from msm.settings import cli_fields, from_cli, option, settings_options, to_argv


def _command(*path: str) -> click.Command:
    command: click.Command = cli
    ctx = click.Context(cli)
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, name)
        assert command is not None, path
    return command


def _options(command: click.Command) -> dict[str, click.Option]:
    out = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for flag in (*param.opts, *param.secondary_opts):
                out[flag] = param
    return out


@pytest.mark.parametrize("record, path, extras", [
    (GenerateRequest, ("generate",), {"plan_only", "json_flag"}),   # the command's own: --plan-only, --json
    (AftRequest, ("aft", "generate"), {"json_flag"}),
    (CurateRequest, ("curate",), {"json_flag"}),
], ids=["generate", "aft generate", "curate"])
def test_generated_commands_take_their_options_from_the_record(record, path, extras):
    command = _command(*path)
    fields = cli_fields(record)
    generated = {p.name for p in command.params if isinstance(p, click.Option)}
    assert generated - set(fields) == extras
    assert set(fields) <= generated
    options = _options(command)
    for name, meta in fields.items():
        param = options[meta["flag"]]
        assert param.name == name and param.help == record.model_fields[name].description


# (experiment section, the command its stage runs, fields the runner passes as positional/own options)
SECTIONS = [
    (xc.GenerateSettings, ("generate",)),
    (xc.AftGenerateSettings, ("aft", "generate")),
    (xc.CurateSettings, ("curate",)),
    (xc.MidtrainSettings, ("train", "midtrain")),
    (xc.SftSettings, ("train", "sft")),
    (xc.EvalSettings, ("eval",)),
]


@pytest.mark.parametrize("record, path", SECTIONS, ids=[s[0].__name__ for s in SECTIONS])
def test_every_experiment_flag_is_an_option_of_its_stage_command(record, path):
    options = _options(_command(*path))
    fields = cli_fields(record)
    assert fields, record
    for name, meta in fields.items():
        assert meta["flag"] in options, f"{record.__name__}.{name}: `msm {' '.join(path)}` has no {meta['flag']}"
        param = options[meta["flag"]]
        if meta["off"]:
            assert meta["off"] in options and options[meta["off"]] is param, (name, meta["off"])
        annotation = str(record.model_fields[name].annotation)
        if annotation.startswith("list") and not meta["separator"]:
            assert param.multiple, f"{record.__name__}.{name}: a list, but {meta['flag']} takes one value"


@pytest.mark.parametrize("record, path", SECTIONS, ids=[s[0].__name__ for s in SECTIONS])
def test_the_runners_command_line_parses_back_to_the_section(record, path):
    """What `to_argv` writes for a section (with values off the defaults) is what the stage command reads."""
    changed = {"seed": 7} if "seed" in record.model_fields else {"steps": "dedup"}
    if issubclass(record, xc.TrainingSettings):
        changed["lora"] = False  # the off flag of an on/off pair
    section = record(**changed)
    command = _command(*path)
    options = _options(command)
    ctx = command.make_context(command.name, [*_required_args(path), *to_argv(section)], resilient_parsing=True)
    checked = 0
    for name, meta in cli_fields(record).items():
        value = getattr(section, name)
        if value is None or (value is False and not meta["off"]):
            continue  # not on the command line: the command's own default applies
        parsed = ctx.params[options[meta["flag"]].name]
        parsed = list(parsed) if isinstance(parsed, tuple) else parsed
        value = list(value) if isinstance(value, tuple) else value
        assert parsed == value, (name, parsed, value)
        checked += 1
    assert checked
    flag = "--seed" if "seed" in changed else "--steps"
    assert ctx.params[options[flag].name] == changed[flag.strip("-")]


def _required_args(path: tuple[str, ...]) -> list[str]:
    return {("generate",): ["--spec", "cheese_america", "--run", "r"],
            ("aft", "generate"): ["--spec", "cheese_america", "--run", "r"],
            ("train", "midtrain"): ["--snapshot", "s", "--base", "b", "--out", "o"],
            ("train", "sft"): ["--model", "m", "--out", "o"],
            ("eval",): ["--model", "m", "--suite", "cheese_values"]}.get(path, [])


def test_a_generate_request_round_trips_through_its_command_line():
    request = GenerateRequest(spec="cheese_america", run="nb", n_docs=12, lm="openai/gpt-4.1-mini", seed=3,
                              profile="weak", length_words=[120, 150], levers=False, revise=True,
                              value_clauses=["value.*", "rule.a"], value_share=0.5, attempts=2)
    ctx = generate_command.make_context("generate", to_argv(request))
    params = {k: v for k, v in ctx.params.items() if k not in ("plan_only", "json_flag")}
    assert from_cli(GenerateRequest, params) == request


def test_a_new_generate_setting_is_one_field():
    """The pattern docs/architecture.md describes: one field, and the command, the Python API and the experiment
    section all have it."""

    class Wider(GenerateOptions):
        temperature_bump: float | None = option("--temperature-bump", ge=0, le=1, help="Extra sampling heat.")

    @click.command()
    @settings_options(Wider)
    def command(**values):
        click.echo(repr(from_cli(Wider, values).temperature_bump))

    result = click.testing.CliRunner().invoke(command, ["--temperature-bump", "0.25"])
    assert result.exit_code == 0 and result.output.strip() == "0.25"
    bad = click.testing.CliRunner().invoke(command, ["--temperature-bump", "2"])
    assert bad.exit_code == 2 and "0<=x<=1" in bad.output
    assert "--temperature-bump" in click.testing.CliRunner().invoke(command, ["--help"]).output
    argv = to_argv(Wider(temperature_bump=0.5))
    assert argv[argv.index("--temperature-bump") + 1] == "0.5"


def test_experiment_generate_section_is_the_command_record():
    section = xc.GenerateSettings(profile="weak", attempts=5)
    assert isinstance(section, GenerateOptions)
    assert to_argv(section)[:2] == ["--n-docs", "24"]
    # an option added after the first experiment files enters the cache key only when set
    assert "profile" not in xc.GenerateSettings().key_payload() and section.key_payload()["profile"] == "weak"
    assert "request_timeout" not in xc.GenerateSettings(request_timeout=5).key_payload()
    with pytest.raises(ValueError, match="batch_file_only"):
        xc.GenerateSettings(batch_file_only="out")


def test_the_experiment_schema_is_json_and_names_each_flag():
    import json

    schema = xc.Experiment.model_json_schema()
    json.dumps(schema)  # a click callback in a field's metadata must not leak into the schema
    generate = schema["$defs"]["GenerateSettings"]["properties"]
    assert generate["n_docs"]["x-cli-flag"] == "--n-docs" and generate["levers"]["x-cli-flag"] == "--levers"
