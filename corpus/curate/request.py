"""The settings record of `msm curate` (`msm.settings`): its options are generated from these fields, an experiment's
`curate:` section is `CurateOptions`, and `msm.curate(ws, CurateRequest(run=...))` takes the same record."""

from __future__ import annotations

from typing import Literal

from msm.settings import StageSettings, option


class CurateOptions(StageSettings):
    """How a run is curated — every `msm curate` option but which run."""

    config: str | None = option("--config", path={"dir_okay": False},
                                help="Curation config YAML (default: the shipped corpus/curate/default_config.yaml; "
                                     "chat_config.yaml for chat runs of `msm aft generate`); `paper`: the replication's "
                                     "marks-only curation (every shipped rule flags, only empty documents are "
                                     "dropped; use with --steps filters).")
    steps: str = option("--steps", default="dedup,filters", show_default=True,
                        help="Comma-separated steps to run: dedup, filters. Marks reflect exactly these steps.")
    engine: Literal["local", "ray"] = option(
        "--engine", default="local", show_default=True,
        help="local: this process (DuckDB + numpy threads); ray: the same steps as Ray Data tasks, with identical "
             "marks (needs `pip install 'msm-midtrain[scale]'`).")
    ray_address: str | None = option("--ray-address", metavar="ADDR",
                                     help="Ray cluster to join with --engine ray (e.g. ray://head:10001 or auto); "
                                          "default: $RAY_ADDRESS, else a local Ray on this machine's CPUs.")
    ray_scratch: str | None = option("--ray-scratch", metavar="URI",
                                     help="Where Ray workers read the document shards: an object-store URI "
                                          "(s3://bucket/prefix) or a directory every node mounts; default: the run's "
                                          "curation directory in the workspace.")
    ray_shuffle: Literal["sort", "hash"] | None = option(
        "--ray-shuffle",
        help="Ray Data shuffle that moves the hash-partitioned buckets with --engine ray: sort (tasks; default) or "
             "hash (Ray's aggregator actors). Same marks either way.")


class CurateRequest(CurateOptions):
    """What `msm curate` and `msm.curate()` take.

        CurateRequest(run="nb", steps="dedup")
    """

    # not required on the command line: `msm curate report` runs through the same group without it
    run: str | None = option("--run", help="Run to curate.")
