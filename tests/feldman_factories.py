"""Researchers' own classifiers for ``feldman.architectures.<name>: {kind: module, factory: ...}`` in the
tests (tests/test_feldman_module.py): importable as ``feldman_factories:<name>``."""

from __future__ import annotations

import torch
from torch import nn


class TinyMLP(nn.Module):
    def __init__(self, in_shape, n_classes, hidden=16):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], hidden),
                                  nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.body(x)


class CheckedMLP(TinyMLP):
    """TinyMLP that refuses non-finite input: data-dependent Python control flow, which vmap cannot run."""

    def forward(self, x):
        if not torch.isfinite(x).all():
            raise ValueError("non-finite input")
        return self.body(x)


def tiny_mlp(in_shape, n_classes):
    return TinyMLP(in_shape, n_classes)


def checked_mlp(in_shape, n_classes):
    """The same initial weights as ``tiny_mlp`` under the same seed (same layers, same order)."""
    return CheckedMLP(in_shape, n_classes)


def local_class_mlp(in_shape, n_classes):
    """TinyMLP's layers in a class defined anew on each call: copies of different classes."""

    class LocalMLP(TinyMLP):
        pass

    return LocalMLP(in_shape, n_classes)


def bn_cnn(in_shape, n_classes):
    """conv -> BatchNorm -> ReLU -> pool -> linear: BatchNorm's running statistics are buffers."""
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, n_classes))


def wrong_logits(in_shape, n_classes):
    return TinyMLP(in_shape, n_classes + 1)


def not_a_module(in_shape, n_classes):
    return "a string"
