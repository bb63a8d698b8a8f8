"""What a style model is: the networks, the StyleModel, the checkpoint format and the shipped prior."""
