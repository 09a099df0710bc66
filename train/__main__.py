"""`python -m msm.train ARGS` runs `msm train ARGS`, so module launchers start training directly:

    accelerate launch --config_file CONFIG -m msm.train midtrain --snapshot S --base M --out N
    torchrun --nproc_per_node 8 -m msm.train sft --model M --data cheese --out N

Global options (`--workspace`, `--json`, `--quiet`, `--debug`) may come before the subcommand.
"""

import sys

from msm.cli import main
from msm.train.cli import train_group


def _msm_argv(args: list[str]) -> list[str]:
    for position, arg in enumerate(args):
        if arg in train_group.commands or arg in ("-h", "--help"):
            return [*args[:position], "train", *args[position:]]
    return [*args, "train"]


main(_msm_argv(sys.argv[1:]))
