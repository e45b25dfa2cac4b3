"""Inference node: camera images and language commands in, VlaAction proposals out at a steady rate."""
