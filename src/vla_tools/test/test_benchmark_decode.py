"""vla_benchmark --decode-only: the decoders it times give the same pixels, and its report is complete."""
import numpy as np

from vla_tools import benchmark_decode as benchmark


def test_decode_benchmark_compares_like_with_like(capsys):
    # the shipped default policy: 64 px input from the centred square of the frame
    r = benchmark.bench_decode('default', 'vla_humanoid', number=2, repeat=1)
    benchmark.print_decode(r)
    assert set(r['decode']) == {'rgb8', 'bgr8', 'jpeg'}
    assert all(v['same_pixels'] for v in r['decode'].values()), 'before and now decode to other pixels'
    assert r['policy_input']['size'] == 64 and r['policy_input']['crop'] is True
    assert set(r['decode_and_policy_input']) == {'rgb8', 'bgr8', 'jpeg'}
    # Pillow's antialiased bilinear (the converter's resize before) is the policy's PyTorch kernel;
    # cv2's 2x2-tap bilinear is not (it aliases when shrinking 7.5x)
    resize = r['resize']
    assert resize['pillow_bilinear_before']['max_abs_diff'] <= 1
    assert resize['cv2_linear']['max_abs_diff'] > resize['cv2_area']['max_abs_diff']
    printed = capsys.readouterr().out
    assert 'decode jpeg + policy input 64px' in printed and 'PIXELS DIFFER' not in printed


def test_bench_frame_is_a_deterministic_scene():
    a, b = benchmark.bench_frame(), benchmark.bench_frame()
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert a.std() > 20    # not flat: JPEG has real content to code
