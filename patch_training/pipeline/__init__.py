"""Files in, files out: the one path the command line, the ComfyUI nodes and the batch call."""
