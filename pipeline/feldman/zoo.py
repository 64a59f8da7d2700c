"""Ready-made factories for ``feldman.architectures.<name>: {kind: module, factory: ...}``.

Each is called as ``factory(in_shape=(C, H, W), n_classes=K)`` and returns an ``nn.Module`` mapping
(B, C, H, W) images to (B, K) logits (``pipeline.feldman.module_stack``).
"""

from __future__ import annotations

from torch import nn


def resnet18_cifar(in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with the usual small-image stem: a 3x3 stride-1 first convolution and no
    max-pool, so a 32x32 image reaches the last stage at 4x4 instead of 1x1 (the ImageNet stem's
    stride 4 leaves CIFAR-size images too small). The stem takes ``in_shape``'s channels and is
    initialised as torchvision initialises its convolutions (Kaiming normal, fan out)."""
    from torchvision.models import resnet18

    net = resnet18(num_classes=n_classes)
    net.conv1 = nn.Conv2d(in_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()
    return net
