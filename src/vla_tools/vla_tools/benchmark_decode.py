"""vla_benchmark's decode part (--decode-only): the per-frame cost of decoding a 640x480 frame and
making the policy's input from it, before (NumPy/Pillow) and now (OpenCV), and the pixel difference
of the resize kernels against the policy's own (vla_tools.benchmark).
"""
from __future__ import annotations

import io
import statistics
import timeit

import cv2
import numpy as np
from PIL import Image

from vla_common.image_compressed import decode_compressed
from vla_common.image_conversion import decode_image, encode_image
from vla_common.image_resize import resize_rgb
from vla_core.embodiment import load_embodiment
from vla_policy.registry import make_policy


# -- image decode + resize ---------------------------------------------------------------------
# The converter before it moved to OpenCV (commit 008830b), re-created here only to measure it:
# its pixel work, without the field checks both versions share (a few microseconds).

def _before_decode_raw(enc) -> np.ndarray:
    """rgb8 / bgr8 as the converter decoded them: a copy, or one NumPy channel copy at a time."""
    h, w = enc.height, enc.width
    pixels = np.frombuffer(enc.data, np.uint8).reshape(h, enc.step)[:, :w * 3].reshape(h, w, 3)
    if enc.encoding == 'rgb8':
        return pixels.copy()
    rgb = np.empty((h, w, 3), np.uint8)
    for dst, src in enumerate((2, 1, 0)):
        rgb[:, :, dst] = pixels[:, :, src]
    return rgb


def _before_decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=('JPEG', 'PNG')) as im:
        im.load()
        return np.array(im if im.mode == 'RGB' else im.convert('RGB'), dtype=np.uint8)


def _before_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """The converter's resize_rgb(method='bilinear'): Pillow's antialiased bilinear."""
    return np.array(Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.Resampling.BILINEAR))


def bench_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """A synthetic camera frame: colour gradients, a few blocks and +-8 noise (JPEG-sized like a scene)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 200 // width + 30, yy * 180 // height + 40, (xx + yy) * 120 // (width + height) + 60],
                   axis=-1).astype(np.int16)
    for _ in range(12):
        y, x = rng.integers(0, height - 40), rng.integers(0, width - 60)
        img[y:y + rng.integers(20, 120), x:x + rng.integers(30, 160)] = rng.integers(0, 256, 3)
    return np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


def bench_decode(policy_spec: str, embodiment: str, number: int = 50, repeat: int = 7) -> dict:
    """Per-frame ms (best and median of ``repeat`` runs of ``number``) of decoding a 640x480 frame
    and of making the policy's input from it, before (NumPy/Pillow) and now (OpenCV); every library
    on one thread. Also checks that both decoders give the same pixels and how far the resize
    kernels are from the policy's own."""
    # torch (heavy) is imported where it is used, as are the policy's torch-based processor helpers below
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    frame = bench_frame()
    raw = {enc: encode_image(frame, enc) for enc in ('rgb8', 'bgr8')}
    ok, jpeg = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = jpeg.tobytes()
    decoders = {  # label -> (before, now)
        'rgb8': (lambda: _before_decode_raw(raw['rgb8']), lambda: decode_image(*raw['rgb8']).rgb),
        'bgr8': (lambda: _before_decode_raw(raw['bgr8']), lambda: decode_image(*raw['bgr8']).rgb),
        'jpeg': (lambda: _before_decode_jpeg(jpeg), lambda: decode_compressed('jpeg', jpeg)),
    }

    def ms(fn) -> dict:
        runs = [t / number * 1e3 for t in timeit.repeat(fn, number=number, repeat=repeat)]
        return {'best_ms': min(runs), 'median_ms': statistics.median(runs)}

    out: dict = {'frame': '640x480 synthetic scene', 'jpeg_bytes': len(jpeg), 'jpeg_quality': 90,
                 'threads': 1, 'number': number, 'repeat': repeat, 'decode': {}, 'decode_and_policy_input': {}}
    for label, (before, now) in decoders.items():
        same = np.array_equal(before(), now())
        out['decode'][label] = {'before': ms(before), 'now': ms(now), 'same_pixels': same}
    from vla_policy.models.processor_seed_vla import centre_square, resize_rgb as policy_resize
    processor = getattr(make_policy(policy_spec, load_embodiment(embodiment)), 'processor', None)
    if processor is None:           # not a seed_vla policy: no processor of ours to time
        return out
    size, crop = processor.config.image_size, processor.config.image_resize == 'crop'
    out['policy_input'] = {'size': size, 'crop': crop, 'cost': ms(lambda: processor.image(frame))}
    for label, (before, now) in decoders.items():
        out['decode_and_policy_input'][label] = {'before': ms(lambda: processor.image(before())),
                                                 'now': ms(lambda: processor.image(now()))}
    # the resize kernels against the policy's (PyTorch antialiased bilinear, unchanged)
    src = np.ascontiguousarray(centre_square(frame) if crop else frame)
    ref = policy_resize(src, size)[0].permute(1, 2, 0).numpy().astype(int)
    kernels = {'pillow_bilinear_before': lambda: _before_resize(src, size),
               'cv2_area': lambda: resize_rgb(src, size, size, 'area'),
               'cv2_linear': lambda: resize_rgb(src, size, size, 'bilinear')}
    out['resize'] = {'policy_torch_antialias': ms(lambda: policy_resize(src, size))}
    for label, fn in kernels.items():
        diff = np.abs(fn().astype(int) - ref)
        out['resize'][label] = {**ms(fn), 'max_abs_diff': int(diff.max()), 'mean_abs_diff': float(diff.mean())}
    return out


def print_decode(r: dict) -> None:
    def cell(t: dict) -> str:
        return f"{t['best_ms']:7.3f} {t['median_ms']:7.3f}"
    print(f"   {r['frame']}, JPEG quality {r['jpeg_quality']} ({r['jpeg_bytes'] / 1024:.0f} KiB); ms per frame, "
          f"best / median of {r['repeat']} runs of {r['number']}, {r['threads']} thread")
    print(f"   {'':34s} {'before (NumPy/Pillow)':>21s}   {'now (OpenCV)':>15s}")
    rows = [(f'decode {k}', v) for k, v in r['decode'].items()]
    if 'policy_input' in r:
        p = r['policy_input']
        rows += [(f"decode {k} + policy input {p['size']}px", v) for k, v in r['decode_and_policy_input'].items()]
    for label, v in rows:
        same = '' if 'same_pixels' not in v else ('  same pixels' if v['same_pixels'] else '  PIXELS DIFFER')
        print(f"   {label:34s} {cell(v['before']):>21s}   {cell(v['now']):>15s}{same}")
    if 'policy_input' in r:
        p = r['policy_input']
        crop = 'centre square 480x480' if p['crop'] else '640x480'
        print(f"   policy input alone ({crop} -> {p['size']}x{p['size']}, normalised) {cell(p['cost'])}")
        print(f"   resize {crop} -> {p['size']}x{p['size']}{'':10s} best  median   |difference| from the policy's")
        print(f"     {'policy: PyTorch antialiased bilinear':40s} {cell(r['resize']['policy_torch_antialias'])}"
              '   (reference, unchanged)')
        for label, name in (('pillow_bilinear_before', 'Pillow bilinear (resize_rgb before)'),
                            ('cv2_area', "cv2 INTER_AREA (resize_rgb 'area')"),
                            ('cv2_linear', "cv2 INTER_LINEAR (resize_rgb 'bilinear')")):
            k = r['resize'][label]
            print(f"     {name:40s} {cell(k)}   max {k['max_abs_diff']:3d}  mean {k['mean_abs_diff']:.3f}")
