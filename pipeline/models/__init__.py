"""Model infrastructure: the weights manifest and downloads, loading models once, device and speed settings."""
