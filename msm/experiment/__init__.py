"""The experiment room: one YAML file runs generate → curate → snapshot → midtrain → sft → eval → report."""
