"""Training: the loop, its losses and patches, warm start, and training with guides."""
