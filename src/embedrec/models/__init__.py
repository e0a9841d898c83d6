"""Estimators: each learns embeddings (or scores) from interactions and answers queries on indices.

The classes load on first use (`embedrec.DotBias`, ...) so that importing this package does not import
PyTorch; `embedrec.load_model` imports the module a saved model came from.
"""
