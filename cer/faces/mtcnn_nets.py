"""MTCNN's three networks in PyTorch, with the weights the ``mtcnn`` PyPI package ships.

The ``mtcnn`` wheel (MIT licence) carries ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``: the
widely used Keras MTCNN weights (converted from the original Caffe models), each a joblib pickle
(lz4-compressed) of the list that Keras' ``get_weights()`` returns. That package runs them with
TensorFlow; here they are converted once, at load, to torch layouts, so neither TensorFlow nor the
package's own code (whose import needs TensorFlow) is involved: the files are found with
:func:`importlib.util.find_spec`, which does not import the package.

Layout conversions (Keras -> torch):

- conv kernels ``[kh, kw, in, out]`` (HWIO) -> ``[out, in, kh, kw]`` (OIHW);
- PReLU alphas ``[1, 1, C]`` (shared over the image axes) -> one alpha per channel ``[C]``;
- dense kernels ``[in, out]`` -> ``[out, in]``, with the input rows of R-Net's and O-Net's first
  dense layer reordered: Keras permutes its NHWC map to ``[N, W, H, C]`` and flattens that, torch
  flattens ``[N, C, H, W]``;
- Keras' ``padding="same"`` max-pooling pads only after the end at the sizes used here (one
  pixel at most), which is what torch's ``ceil_mode=True`` does.

Inputs are images as they are, ``[N, 3, H, W]`` (:func:`network_input`): the original Caffe
models were trained on column-major (transposed) images, and these Keras weights have their
kernels and first dense layers transposed to match, so no transposition of the input is needed
(the ``mtcnn`` package feeds its images untransposed too).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_PACKAGE = "mtcnn"  # the PyPI distribution and its import name
WEIGHTS_SUBDIR = ("assets", "weights")
WEIGHT_FILES = ("pnet.lz4", "rnet.lz4", "onet.lz4")
INSTALL_HINT = "pip install mtcnn==1.0.0"


def find_weights(weights_dir: str | Path | None = None) -> Path:
    """The folder holding ``pnet.lz4``, ``rnet.lz4`` and ``onet.lz4``.

    Args:
        weights_dir: where to look; by default ``mtcnn/assets/weights`` of the installed ``mtcnn``
            package, found without importing it (its import needs TensorFlow).

    Raises:
        FileNotFoundError: the files are not there; the message says how to install them.
    """
    if weights_dir is None:
        spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"MTCNN weights not found: the mtcnn package is not installed (it is a dependency of "
                f"cer). Install it with `{INSTALL_HINT}`, pass weights_dir= a folder holding "
                f"{', '.join(WEIGHT_FILES)}, or use the haar detector"
            )
        weights_dir = Path(next(iter(spec.submodule_search_locations)), *WEIGHTS_SUBDIR)
    folder = Path(weights_dir)
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"MTCNN weights {', '.join(missing)} missing in {folder}: reinstall "
                                f"them with `{INSTALL_HINT}` or pass another weights_dir")
    return folder


def read_keras_weights(path: Path) -> list[np.ndarray]:
    """The arrays of one ``.lz4`` file, in Keras' ``get_weights()`` order.

    The files are pickles, read with joblib. They come from the installed ``mtcnn`` package (or
    a folder the caller names), so they get the same trust as that package's code: never point
    ``weights_dir`` at files from elsewhere. (Checkpoints, by contrast, are untrusted input and
    are never unpickled in this project.)
    """
    import joblib

    arrays = joblib.load(path)
    if not isinstance(arrays, list) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ValueError(f"{path} does not hold a list of arrays: not an MTCNN weights file of the mtcnn package")
    return arrays


def network_input(images: np.ndarray) -> torch.Tensor:
    """``[N, H, W, 3]`` uint8 RGB -> ``[N, 3, H, W]`` float32 scaled as in training, ``(x - 127.5) / 128``.

    The tensor is channels-last in memory, as the images are (no copy to reorder them): with the
    networks' weights channels-last too, torch's CPU convolutions ran the cascade about twice as
    fast as in the default layout (measured).
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x.sub_(127.5).div_(128.0).contiguous(memory_format=torch.channels_last)


def _conv(out_channels: int, in_channels: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel)


class _KerasNet(nn.Module):
    """Loading of Keras' flat weight list into the modules, in the order they were declared."""

    def _layers(self) -> list[nn.Module]:
        raise NotImplementedError

    def load_keras(self, arrays: list[np.ndarray], flatten_hw: tuple[int, int] | None = None) -> None:
        """Copy Keras' ``get_weights()`` list in, converting layouts (see the module docstring).

        Args:
            arrays: conv (kernel, bias), PReLU (alpha) and dense (kernel, bias) arrays in layer order.
            flatten_hw: ``(H, W)`` of the feature map flattened into the first dense layer.
        """
        queue = list(arrays)
        expected = sum(len(list(layer.parameters())) for layer in self._layers())
        if len(queue) != expected:
            raise ValueError(f"{type(self).__name__} takes {expected} weight arrays, the file holds {len(queue)}")
        first_dense = True
        with torch.no_grad():
            for layer in self._layers():
                if isinstance(layer, nn.Conv2d):
                    kernel, bias = queue.pop(0), queue.pop(0)
                    layer.weight.copy_(_tensor(kernel.transpose(3, 2, 0, 1), layer.weight))
                    layer.bias.copy_(_tensor(bias, layer.bias))
                elif isinstance(layer, nn.PReLU):
                    layer.weight.copy_(_tensor(queue.pop(0).reshape(-1), layer.weight))
                elif isinstance(layer, nn.Linear):
                    kernel, bias = queue.pop(0), queue.pop(0)
                    if first_dense and flatten_hw is not None:
                        height, width = flatten_hw
                        channels = kernel.shape[0] // (height * width)
                        # Keras row (w * H + h) * C + c feeds torch's flattened index (c * H + h) * W + w.
                        kernel = kernel.reshape(width, height, channels, -1).transpose(2, 1, 0, 3)
                        kernel = kernel.reshape(channels * height * width, -1)
                    first_dense = False
                    layer.weight.copy_(_tensor(kernel.T, layer.weight))
                    layer.bias.copy_(_tensor(bias, layer.bias))


def _tensor(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    if tuple(array.shape) != tuple(like.shape):
        raise ValueError(f"weight of shape {tuple(array.shape)} where the network takes {tuple(like.shape)}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class PNet(_KerasNet):
    """Proposal network, fully convolutional: ``[N, 3, H, W]`` -> box offsets ``[N, 4, H', W']``
    and face / not-face probabilities ``[N, 2, H', W']``, one cell per 12 px window, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(10, 3, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(16, 10, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = _conv(32, 16, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = _conv(4, 32, 1), _conv(2, 32, 1)

    def _layers(self) -> list[nn.Module]:
        return [self.conv1, self.prelu1, self.conv2, self.prelu2, self.conv3, self.prelu3, self.conv4_1, self.conv4_2]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x), torch.softmax(self.conv4_2(x), dim=1)


class RNet(_KerasNet):
    """Refinement network: ``[N, 3, 24, 24]`` -> box offsets ``[N, 4]``, probabilities ``[N, 2]``."""

    FLATTEN_HW = (3, 3)

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(28, 3, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(48, 28, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.conv3, self.prelu3 = _conv(64, 48, 2), nn.PReLU(64)
        self.fc4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.fc5_1, self.fc5_2 = nn.Linear(128, 4), nn.Linear(128, 2)

    def _layers(self) -> list[nn.Module]:
        return [self.conv1, self.prelu1, self.conv2, self.prelu2, self.conv3, self.prelu3, self.fc4, self.prelu4,
                self.fc5_1, self.fc5_2]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.fc4(self.prelu3(self.conv3(x)).flatten(1)))
        return self.fc5_1(x), torch.softmax(self.fc5_2(x), dim=1)


class ONet(_KerasNet):
    """Output network: ``[N, 3, 48, 48]`` -> box offsets ``[N, 4]``, landmarks ``[N, 10]`` (five x,
    then five y, in box units), probabilities ``[N, 2]``."""

    FLATTEN_HW = (3, 3)

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(32, 3, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(64, 32, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.conv3, self.prelu3 = _conv(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = _conv(128, 64, 2), nn.PReLU(128)
        self.fc5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.fc6_1, self.fc6_2, self.fc6_3 = nn.Linear(256, 4), nn.Linear(256, 10), nn.Linear(256, 2)

    def _layers(self) -> list[nn.Module]:
        return [self.conv1, self.prelu1, self.conv2, self.prelu2, self.conv3, self.prelu3, self.conv4, self.prelu4,
                self.fc5, self.prelu5, self.fc6_1, self.fc6_2, self.fc6_3]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.fc5(self.prelu4(self.conv4(x)).flatten(1)))
        return self.fc6_1(x), self.fc6_2(x), torch.softmax(self.fc6_3(x), dim=1)


def load_nets(weights_dir: str | Path | None = None) -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net and O-Net with their weights, in eval mode, on the CPU, channels-last
    (see :func:`network_input`).

    Args:
        weights_dir: folder of ``pnet/rnet/onet.lz4``; default: the installed ``mtcnn`` package's.

    Raises:
        FileNotFoundError: the weights are missing (see :func:`find_weights`).
        ValueError: a file does not hold the arrays its network takes.
    """
    folder = find_weights(weights_dir)
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, WEIGHT_FILES):
        net.load_keras(read_keras_weights(folder / name), getattr(net, "FLATTEN_HW", None))
        net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    return nets
