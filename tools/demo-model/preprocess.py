"""Image preprocessing of ARCHITECTURE.md section 1: confidence, complexity, adaptive
resolution, resize, normalize, patchify. Everything in float32."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

THUMB = 64
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


@dataclass
class Prepared:
    confidence: float
    complexity: float
    resolution: int
    valid: bool               # confidence >= min_image_confidence
    patches: torch.Tensor     # [g*g, 3*p*p] float32, row-major grid, index ch*p*p + i*p + j


def load_image(path: str) -> np.ndarray:
    """Decode to uint8 RGB [H, W, 3]: EXIF orientation applied, alpha dropped (not composited),
    grayscale replicated, palettes expanded."""
    im = ImageOps.exif_transpose(Image.open(path))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA").split()[:3]
        im = Image.merge("RGB", im)
    return np.asarray(im.convert("RGB"), np.uint8)


def luma_thumbnail(img: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> Y [64, 64]: area-average the [0,1] RGB (adaptive_avg_pool2d), then luma."""
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)[None]
    t = F.adaptive_avg_pool2d(x, (THUMB, THUMB))[0]
    return 0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]


def confidence(y: torch.Tensor) -> float:
    return float(torch.clamp(y.std(unbiased=False) / 0.05, 0.0, 1.0))


def complexity(y: torch.Tensor, gradient_scale: float = 1.0) -> float:
    """Mean Sobel magnitude over the 62x62 interior (cross-correlation, unnormalized kernels)."""
    k = torch.stack([SOBEL_X, SOBEL_X.t()])[:, None]          # [2, 1, 3, 3]: gx, gy
    g = F.conv2d(y[None, None], k)[0]                          # [2, 62, 62]
    mag = torch.sqrt(g[0] * g[0] + g[1] * g[1])
    return float(torch.clamp(mag.mean() / gradient_scale, 0.0, 1.0))


def choose_resolution(s: float, sizes, thresholds) -> int:
    if s < thresholds[0]:
        return sizes[0]
    if s < thresholds[1]:
        return sizes[1]
    return sizes[2]


def resize(img: np.ndarray, r: int) -> np.ndarray:
    """Bicubic to r x r (PIL: antialiased when shrinking); identity when already r x r."""
    if img.shape[0] == r and img.shape[1] == r:
        return img
    return np.asarray(Image.fromarray(img).resize((r, r), Image.BICUBIC), np.uint8)


def patchify(img: np.ndarray, p: int, mean, std) -> torch.Tensor:
    r = img.shape[0]
    g = r // p
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    # [3, g, p, g, p] -> [g, g, 3, p, p] -> [g*g, 3*p*p]
    return x.reshape(3, g, p, g, p).permute(1, 3, 0, 2, 4).reshape(g * g, 3 * p * p).contiguous()


def prepare(img: np.ndarray, vcfg: dict, top: dict, pin_resolution: int | None = None) -> Prepared:
    """vcfg: vision_config dict; top: the top-level config dict (adaptive_resolution, ...)."""
    y = luma_thumbnail(img)
    c = confidence(y)
    ar = top["adaptive_resolution"]
    s = complexity(y, ar.get("gradient_scale", 1.0))
    r = pin_resolution or choose_resolution(s, ar["sizes"], ar["thresholds"])
    patches = patchify(resize(img, r), vcfg["patch_size"], vcfg["image_mean"], vcfg["image_std"])
    return Prepared(c, s, r, c >= top.get("min_image_confidence", 0.1), patches)
