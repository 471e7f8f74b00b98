"""Deterministic synthetic corpus (images, videos, ground truth) and a misbehaving loopback HTTP server."""
