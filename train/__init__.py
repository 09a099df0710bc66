"""Training stages: midtraining (continued pre-training on a snapshot) and alignment fine-tuning."""
