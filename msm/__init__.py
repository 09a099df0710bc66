"""msm — Model Spec Midtraining: corpus generation, curation, review, training and evaluation."""

__version__ = "0.1.0"
