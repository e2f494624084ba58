"""The golf reference trainer: the challenge's baseline model, optimizer, data,
evaluation, quantization and artifact, from a laptop CPU to 8xH100."""
