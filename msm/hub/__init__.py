"""The Hugging Face Hub push: snapshots and models out, with their cards (`msm snapshot push`, `msm models push`)."""
