"""Unit tests of vla_common.image_conversion, image_compressed and image_resize (no ROS graph needed)."""
import array
import io
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vla_common import image_conversion as ic
from vla_common.image_compressed import _PNG_SIGNATURE, compressed_msg_to_rgb, decode_compressed
from vla_common.image_conversion import (
    SUPPORTED_ENCODINGS, DecodedImage, ImageDecodeError, decode_image, encode_image, image_msg_to_depth,
    image_msg_to_rgb)
from vla_common.image_resize import RESIZE_METHODS, resize_rgb

RNG = np.random.default_rng(1234)
COLOUR = ('rgb8', 'bgr8', 'rgba8', 'bgra8', '8UC3', '8UC4')
MONO = ('mono8', '8UC1')


def _rgb(h=5, w=7):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _garble_padding(enc, pad):
    """Fill the padding bytes of each row with noise the decoder must ignore."""
    data = bytearray(enc.data)
    for r in range(enc.height):
        end = (r + 1) * enc.step
        data[end - pad:end] = bytes(RNG.integers(1, 256, pad, dtype=np.uint8))
    return enc._replace(data=bytes(data))


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize('pad', [0, 4, 13])
@pytest.mark.parametrize('encoding', COLOUR)
def test_colour_round_trip(encoding, pad):
    rgb = _rgb()
    enc = encode_image(rgb, encoding, row_padding=pad)
    assert enc.step == 7 * (4 if encoding in ('rgba8', 'bgra8', '8UC4') else 3) + pad
    if pad:
        enc = _garble_padding(enc, pad)
    out = decode_image(*enc)
    assert out.kind == 'rgb' and out.depth is None
    assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous and out.rgb.flags.writeable
    np.testing.assert_array_equal(out.rgb, rgb)


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('encoding', MONO)
def test_mono_round_trip_and_replication(encoding, pad):
    mono = RNG.integers(0, 256, (4, 6), dtype=np.uint8)
    enc = encode_image(mono, encoding, row_padding=pad)
    if pad:
        enc = _garble_padding(enc, pad)
    rgb = decode_image(*enc).rgb
    assert rgb.shape == (4, 6, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], mono)


@pytest.mark.parametrize('big', [False, True])
@pytest.mark.parametrize('pad', [0, 6])
def test_16uc1_round_trip(big, pad):
    mm = RNG.integers(0, 65536, (6, 5), dtype=np.uint16)
    mm[0, 0] = 0
    enc = encode_image(mm, '16UC1', is_bigendian=big, row_padding=pad)
    assert enc.is_bigendian == int(big) and enc.step == 10 + pad
    if pad:
        enc = _garble_padding(enc, pad)
    out = decode_image(*enc)
    assert out.kind == 'depth' and out.rgb is None and out.depth.dtype == np.float32
    expected = np.where(mm == 0, np.nan, mm.astype(np.float32) / np.float32(1000))
    np.testing.assert_array_equal(out.depth, expected)   # NaN == NaN for this assert
    # and back: metres -> 16UC1 reproduces the millimetres exactly
    again = encode_image(out.depth, '16UC1', is_bigendian=big, row_padding=pad)
    np.testing.assert_array_equal(decode_image(*again).depth, out.depth)


@pytest.mark.parametrize('big', [False, True])
@pytest.mark.parametrize('pad', [0, 8])
def test_32fc1_round_trip(big, pad):
    depth = RNG.uniform(0.1, 20.0, (3, 4)).astype(np.float32)
    depth[1, 1] = np.nan
    depth[2, 3] = np.inf
    enc = encode_image(depth, '32FC1', is_bigendian=big, row_padding=pad)
    if pad:
        enc = _garble_padding(enc, pad)
    np.testing.assert_array_equal(decode_image(*enc).depth, depth)


def test_endianness_is_honoured():
    """The same bytes read with the other byte order give other values."""
    enc = encode_image(np.array([[1, 258]], np.uint16), '16UC1', is_bigendian=True)
    assert enc.data == b'\x00\x01\x01\x02'
    np.testing.assert_allclose(decode_image(*enc).depth, [[0.001, 0.258]])
    np.testing.assert_allclose(decode_image(*enc._replace(is_bigendian=0)).depth, [[0.256, 0.513]])
    f = encode_image(np.array([[1.5]], np.float32), '32FC1', is_bigendian=True)
    assert f.data == np.array([1.5], '>f4').tobytes()


# ----------------------------------------------------------------- pixel semantics


def test_known_pixel_channel_order():
    red = bytes([255, 0, 0])  # as stored in the message
    assert decode_image(1, 1, 'rgb8', 0, 3, red).rgb.tolist() == [[[255, 0, 0]]]
    assert decode_image(1, 1, 'bgr8', 0, 3, red).rgb.tolist() == [[[0, 0, 255]]]
    assert decode_image(1, 1, '8UC3', 0, 3, red).rgb.tolist() == [[[0, 0, 255]]]  # OpenCV = BGR
    rgba = bytes([10, 20, 30, 40])
    assert decode_image(1, 1, 'rgba8', 0, 4, rgba).rgb.tolist() == [[[10, 20, 30]]]
    assert decode_image(1, 1, 'bgra8', 0, 4, rgba).rgb.tolist() == [[[30, 20, 10]]]
    assert decode_image(1, 1, 'mono8', 0, 1, b'\x07').rgb.tolist() == [[[7, 7, 7]]]


def test_alpha_dropped_and_written_as_opaque():
    rgba = RNG.integers(0, 256, (2, 3, 4), dtype=np.uint8)
    enc = encode_image(rgba, 'rgba8')
    np.testing.assert_array_equal(np.frombuffer(enc.data, np.uint8).reshape(2, 3, 4), rgba)
    np.testing.assert_array_equal(decode_image(*enc).rgb, rgba[:, :, :3])
    bgra = np.frombuffer(encode_image(rgba[:, :, :3], 'bgra8').data, np.uint8).reshape(2, 3, 4)
    assert (bgra[:, :, 3] == 255).all()
    np.testing.assert_array_equal(bgra[:, :, :3], rgba[:, :, 2::-1])


def test_depth_mm_to_metres_and_zero_is_nan():
    data = np.array([[0, 1000, 1234, 65535]], '<u2').tobytes()
    depth = decode_image(1, 4, '16UC1', 0, 8, data).depth
    assert np.isnan(depth[0, 0])
    np.testing.assert_allclose(depth[0, 1:], [1.0, 1.234, 65.535], rtol=1e-7)


def test_encoding_name_is_case_insensitive():
    assert decode_image(1, 1, 'RGB8', 0, 3, b'abc').rgb.tolist() == [[[97, 98, 99]]]
    assert decode_image(1, 1, '16uc1', 0, 2, b'\x01\x00').kind == 'depth'


@pytest.mark.parametrize('data', [
    b'\x01\x02\x03\x04\x05\x06',
    bytearray(b'\x01\x02\x03\x04\x05\x06'),
    memoryview(b'\x01\x02\x03\x04\x05\x06'),
    array.array('B', [1, 2, 3, 4, 5, 6]),
    [1, 2, 3, 4, 5, 6],
    (1, 2, 3, 4, 5, 6),
    np.arange(1, 7, dtype=np.uint8),
    np.arange(1, 7, dtype=np.int64),
    memoryview(b'\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00')[::2],   # strided view
])
def test_data_container_types(data):
    out = decode_image(1, 2, 'rgb8', 0, 6, data).rgb
    assert out.tolist() == [[[1, 2, 3], [4, 5, 6]]]


def test_output_never_aliases_message_buffer():
    data = bytearray(range(6))
    out = decode_image(1, 2, 'rgb8', 0, 6, data).rgb
    data[0] = 99
    assert out[0, 0, 0] == 0


def test_decoded_image_is_frozen():
    out = decode_image(1, 1, 'mono8', 0, 1, b'\x00')
    assert isinstance(out, DecodedImage)
    with pytest.raises(AttributeError):
        out.kind = 'depth'


# --------------------------------------------------------------------- malformed input


@pytest.mark.parametrize('fields, words', [
    ((2, 2, 'rgb8', 0, 5, bytes(10)), 'step 5 is less than'),
    ((2, 2, '16UC1', 0, 5, bytes(10)), 'multiple of 2'),
    ((2, 2, '32FC1', 0, 10, bytes(20)), 'multiple of 4'),
    ((2, 2, 'rgb8', 0, 6, bytes(11)), 'data is 11 bytes'),
    ((2, 2, 'rgb8', 0, 6, bytes(13)), 'long'),
    ((0, 2, 'rgb8', 0, 6, b''), 'empty'),
    ((2, 0, 'rgb8', 0, 0, b''), 'empty'),
    ((-1, 2, 'rgb8', 0, 6, b''), 'empty'),
    ((2, 2, 'yuv422', 0, 4, bytes(8)), 'supported: rgb8'),
    ((2, 2, 'bayer_rggb8', 0, 2, bytes(4)), 'unsupported encoding'),
    ((9000, 2, 'rgb8', 0, 6, b''), 'larger than 8192'),
    ((2, 10**9, 'rgb8', 0, 3 * 10**9, b''), 'larger than 8192'),
    ((8192, 8192, 'rgba8', 0, 8192 * 4, b''), 'more than the'),
    ((1, 1, 'rgb8', 0, 10**12, b''), 'more than the'),
    ((1.5, 1, 'rgb8', 0, 3, bytes(3)), 'height must be an integer'),
    ((1, 1, 5, 0, 3, bytes(3)), 'encoding must be a string'),
    ((1, 1, 'rgb8', 'no', 3, bytes(3)), 'is_bigendian must be an integer'),
    ((1, 1, 'rgb8', 0, 3, 'abc'), 'data must be bytes'),
    ((1, 1, 'rgb8', 0, 3, [1, 2, 300]), '0..255'),
    ((1, 1, 'rgb8', 0, 3, [1.0, 2.0, 3.0]), 'ints'),
    ((1, 1, 'rgb8', 0, 3, None), 'data must be bytes'),
])
def test_malformed_fields_are_rejected_with_reason(fields, words):
    with pytest.raises(ImageDecodeError) as info:
        decode_image(*fields)
    message = str(info.value)
    assert words in message and '\n' not in message


def test_unknown_encoding_lists_supported():
    with pytest.raises(ImageDecodeError, match='unsupported encoding') as info:
        decode_image(1, 1, 'weird\nname', 0, 1, b'\x00')
    assert all(e in str(info.value) for e in SUPPORTED_ENCODINGS)
    assert '\n' not in str(info.value)


def test_image_decode_error_is_a_value_error():
    assert issubclass(ImageDecodeError, ValueError)


# ------------------------------------------------------------------------- compressed


def _compressed(rgb, fmt, **kw):
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize('fmt', ['png', 'rgb8; png compressed rgb8', ''])
def test_png_is_lossless(fmt):
    rgb = _rgb(8, 9)
    np.testing.assert_array_equal(decode_compressed(fmt, _compressed(rgb, 'PNG')), rgb)


@pytest.mark.parametrize('fmt', ['jpeg', 'rgb8; jpeg compressed bgr8', 'bgr8; jpeg compressed bgr8'])
def test_jpeg_decodes_to_rgb(fmt):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200   # red
    data = array.array('B', _compressed(rgb, 'JPEG', quality=95))   # as rclpy delivers it
    out = decode_compressed(fmt, data)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).max() <= 3


def test_jpeg_pixels_are_those_of_an_independent_decoder():
    """cv2.imdecode gives the pixels Pillow (the decoder before OpenCV) gives for the same bytes."""
    yy, xx = np.mgrid[0:48, 0:64]
    scene = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)
    scene[10:30, 20:40] = (200, 30, 30)
    scene = np.clip(scene + RNG.integers(-20, 20, scene.shape), 0, 255).astype(np.uint8)
    for kw in ({'quality': 90}, {'quality': 75, 'subsampling': 2}, {'quality': 90, 'progressive': True}):
        data = _compressed(scene, 'JPEG', **kw)
        with Image.open(io.BytesIO(data)) as im:
            reference = np.asarray(im.convert('RGB'))
        np.testing.assert_array_equal(decode_compressed('jpeg', data), reference)


def test_jpeg_with_metadata_before_its_frame_header():
    """EXIF (orientation 6 = rotate 90) and an ICC profile sit before the size; orientation is not applied."""
    rgb = np.zeros((8, 16, 3), np.uint8)
    rgb[:, :8] = (250, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _compressed(rgb, 'JPEG', quality=95, exif=exif.tobytes(), icc_profile=b'\0' * 3000)
    out = decode_compressed('jpeg', data)
    assert out.shape == (8, 16, 3) and out[:, :6, 0].min() > 240 and out[:, 10:, 0].max() < 10


def test_16_bit_colour_png_becomes_8_bit():
    rgb16 = RNG.integers(0, 65536, (3, 4, 3), dtype=np.uint16)
    import cv2
    ok, png = cv2.imencode('.png', rgb16[:, :, ::-1])    # OpenCV writes BGR
    assert ok
    np.testing.assert_array_equal(decode_compressed('png', png.tobytes()), (rgb16 >> 8).astype(np.uint8))


def test_compressed_mono_and_rgba_become_rgb():
    mono = RNG.integers(0, 256, (4, 5), dtype=np.uint8)
    out = decode_compressed('png', _compressed(mono, 'PNG'))
    np.testing.assert_array_equal(out, np.repeat(mono[:, :, None], 3, axis=2))
    rgba = RNG.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    np.testing.assert_array_equal(decode_compressed('png', _compressed(rgba, 'PNG')), rgba[:, :, :3])


@pytest.mark.parametrize('fmt, data, words', [
    ('jpeg', b'', 'empty'),
    ('jpeg', b'not an image at all', 'cannot decode'),
    ('jpeg', bytes(RNG.integers(0, 256, 500, dtype=np.uint8)), 'cannot decode'),
    ('jpeg', _compressed(np.zeros((32, 32, 3), np.uint8), 'JPEG')[:200], 'cannot decode'),
    ('png', _compressed(np.zeros((32, 32, 3), np.uint8), 'PNG')[:60], 'cannot decode'),
    ('16UC1; compressedDepth png', b'\x00' * 20, 'compressedDepth'),
    ('png', _compressed(np.zeros((4, 4), np.uint16), 'PNG'), '16/32-bit'),
    ('png', _PNG_SIGNATURE + bytes(10), 'truncated before the end of its IHDR'),
    ('png', _PNG_SIGNATURE + bytes(30), 'without an IHDR'),
    ('bmp', _compressed(np.zeros((4, 4, 3), np.uint8), 'BMP'), 'neither JPEG nor PNG'),
    ('webp', b'RIFF\x00\x00\x00\x00WEBPVP8 ', 'neither JPEG nor PNG'),
    ('jpeg', b'\xff\xd8\xff\xe0\x00\x10JFIF', 'truncated before its frame header'),
    ('jpeg', b'\xff\xd8\xff\xda\x00\x08' + bytes(8), 'without a frame header'),
    (b'jpeg', b'\xff\xd8', 'format must be a string'),
])
def test_compressed_garbage_is_rejected(fmt, data, words):
    with pytest.raises(ImageDecodeError, match=words) as info:
        decode_compressed(fmt, data)
    assert '\n' not in str(info.value)


def _jpeg_with_size(width, height):
    """A small valid JPEG whose frame header then declares another size (nothing else changed)."""
    data = bytearray(_compressed(np.zeros((8, 8, 3), np.uint8), 'JPEG'))
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return bytes(data)


def test_compressed_huge_declared_size_is_rejected_before_decoding():
    png = bytearray(_compressed(np.zeros((2, 2, 3), np.uint8), 'PNG'))
    png[16:24] = (100000).to_bytes(4, 'big') * 2   # IHDR width, height (CRC now wrong too)
    with pytest.raises(ImageDecodeError, match='100000x100000, outside 1..8192'):
        decode_compressed('png', bytes(png))
    with pytest.raises(ImageDecodeError, match='8193x8, outside 1..8192'):
        decode_compressed('jpeg', _jpeg_with_size(8193, 8))
    with pytest.raises(ImageDecodeError, match='8x0, outside'):
        decode_compressed('jpeg', _jpeg_with_size(8, 0))


# ----------------------------------------------------------------------------- resize


@pytest.mark.parametrize('method', RESIZE_METHODS)
@pytest.mark.parametrize('size', [(224, 224), (96, 96), (480, 640), (960, 1280)])
def test_resize_shapes_and_constant_image(method, size):
    frame = np.full((480, 640, 3), (10, 20, 30), np.uint8)
    out = resize_rgb(frame, *size, method=method)
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    assert (out == (10, 20, 30)).all()
    assert out is not frame and out.flags.c_contiguous and out.flags.writeable


def test_resize_nearest_picks_pixel_centres():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2)
    out = resize_rgb(img, 2, 2, method='nearest')
    assert out[:, :, 0].tolist() == [[5, 7], [13, 15]]


@pytest.mark.parametrize('method', RESIZE_METHODS)
def test_resize_keeps_a_ramp_in_order(method):
    ramp = np.tile(np.linspace(0, 255, 640).astype(np.uint8)[None, :, None], (480, 1, 3))
    out = resize_rgb(ramp, 224, 224, method)[0, :, 0].astype(int)
    assert (np.diff(out) >= 0).all() and out[0] < 5 and out[-1] > 250


def test_resize_area_the_default_averages_instead_of_aliasing():
    """Noise (std 74) shrunk 8x: 'area' averages 64 pixels (std ~9); 2x2-tap 'bilinear' averages 4 (~37)."""
    noise = np.random.default_rng(7).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    area = resize_rgb(noise, 32, 32)
    np.testing.assert_array_equal(resize_rgb(noise, 32, 32, 'area'), area)
    assert abs(area.mean() - noise.mean()) < 2 and area.std() < 12
    assert resize_rgb(noise, 32, 32, 'bilinear').std() > 30


def test_resize_reads_views():
    img = _rgb(48, 64)
    for view in (img[:, 8:56], img[::-1], img[:, :, ::-1]):
        out = resize_rgb(view, 12, 12)
        np.testing.assert_array_equal(out, resize_rgb(np.ascontiguousarray(view), 12, 12))
        assert out.flags.c_contiguous and out.flags.writeable


@pytest.mark.parametrize('args', [
    (np.zeros((4, 4), np.uint8), 2, 2),
    (np.zeros((4, 4, 3), np.float32), 2, 2),
    (np.zeros((4, 4, 3), np.uint8), 0, 2),
])
def test_resize_rejects_bad_input(args):
    with pytest.raises(ValueError):
        resize_rgb(*args)
    with pytest.raises(ValueError, match='unknown resize method'):
        resize_rgb(np.zeros((4, 4, 3), np.uint8), 2, 2, method='cubic')


# -------------------------------------------------------------------------- encoding


@pytest.mark.parametrize('array_, encoding, words', [
    (np.zeros((2, 2), np.uint8), 'rgb8', r'\(H, W, 3\)'),
    (np.zeros((2, 2, 3), np.float32), 'rgb8', 'uint8'),
    (np.zeros((2, 2, 3), np.uint8), 'mono8', r'\(H, W\)'),
    (np.full((2, 2), 70.0), '16UC1', '65.535'),
    (np.full((2, 2), -1.0), '16UC1', '65.535'),
    (np.zeros((2, 2), np.uint8), 'yuv422', 'unsupported'),
    (np.zeros((0, 2, 3), np.uint8), 'rgb8', 'pixels a side'),
])
def test_encode_rejects_bad_input(array_, encoding, words):
    with pytest.raises(ValueError, match=words):
        encode_image(array_, encoding)


def test_encode_row_padding_must_fit_the_pixel_size():
    with pytest.raises(ValueError, match='multiple of 2'):
        encode_image(np.zeros((2, 2), np.uint16), '16UC1', row_padding=3)
    with pytest.raises(ValueError, match='row_padding'):
        encode_image(np.zeros((2, 2), np.uint8), 'mono8', row_padding=1.5)


def test_encode_16uc1_from_metres():
    enc = encode_image(np.array([[np.nan, 0.0, 1.2344, np.inf]]), '16UC1')
    assert np.frombuffer(enc.data, '<u2').tolist() == [0, 0, 1234, 0]


def test_encode_result_fills_a_sensor_msgs_image():
    from sensor_msgs.msg import Image as ImageMsg   # real message; rclpy not needed
    msg = ImageMsg()
    (msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data) = encode_image(
        _rgb(3, 4), 'bgr8', row_padding=4)
    assert isinstance(msg.data, array.array)
    assert image_msg_to_rgb(msg).shape == (3, 4, 3)


# ------------------------------------------------------------------ message wrappers


def _msg(array_, encoding, **kw):
    return SimpleNamespace(**encode_image(array_, encoding, **kw)._asdict())


def test_image_msg_wrappers():
    rgb = _rgb()
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(rgb, 'bgr8')), rgb)
    depth = image_msg_to_depth(_msg(np.array([[1000, 0]], np.uint16), '16UC1'))
    assert depth[0, 0] == 1.0 and np.isnan(depth[0, 1])
    with pytest.raises(ImageDecodeError, match='use image_msg_to_depth'):
        image_msg_to_rgb(_msg(np.ones((2, 2), np.float32), '32FC1'))
    with pytest.raises(ImageDecodeError, match='use image_msg_to_rgb'):
        image_msg_to_depth(_msg(rgb, 'rgb8'))
    with pytest.raises(ImageDecodeError, match='not a sensor_msgs/Image'):
        image_msg_to_rgb(SimpleNamespace(height=1))
    png = SimpleNamespace(format='png', data=_compressed(rgb, 'PNG'))
    np.testing.assert_array_equal(compressed_msg_to_rgb(png), rgb)


def _yuv422_msg():
    """A real sensor_msgs/Image in an encoding this converter does not list (UYVY, 2x2)."""
    from sensor_msgs.msg import Image as ImageMsg
    return ImageMsg(height=2, width=2, encoding='yuv422', is_bigendian=0, step=4,
                    data=bytes([128, 16, 128, 16, 128, 235, 128, 235]))   # U Y V Y: black row, white row


def test_unknown_encoding_without_cv_bridge_is_refused():
    with pytest.raises(ImageDecodeError, match='unsupported encoding'):
        image_msg_to_rgb(_yuv422_msg(), use_cv_bridge=False)
    if ic.cv_bridge_available():
        pytest.skip('cv_bridge is installed: yuv422 goes to it (test_cv_bridge_converts_other_encodings)')
    with pytest.raises(ImageDecodeError, match='unsupported encoding'):
        image_msg_to_rgb(_yuv422_msg())


def test_cv_bridge_converts_other_encodings():
    pytest.importorskip('cv_bridge', reason='cv_bridge (ROS 2) is not installed; it is not on PyPI')
    rgb = image_msg_to_rgb(_yuv422_msg())
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert rgb[0].max() < 10 and rgb[1].min() > 245                         # black row, white row
    rgb = _rgb(2, 2)
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(rgb, 'bgr8')), rgb)  # listed: decoded here


# ------------------------------------------------------------------------------- fuzz

_any_int = st.one_of(st.integers(-5, 40), st.integers(-2**70, 2**70))
_odd = st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                 st.binary(max_size=4), st.lists(st.integers(), max_size=3))
_encoding = st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=12), _odd)
_data = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(bytearray),
    st.binary(max_size=300).map(lambda b: array.array('B', b)),
    st.binary(max_size=300).map(memoryview),
    st.lists(st.integers(-300, 300), max_size=100),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=2)), max_size=10),
    _odd,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.one_of(_any_int, _odd), width=st.one_of(_any_int, _odd), encoding=_encoding,
       is_bigendian=st.one_of(_any_int, _odd), step=st.one_of(_any_int, st.integers(0, 200), _odd),
       data=_data)
def test_fuzz_arbitrary_fields_only_raise_image_decode_error(height, width, encoding,
                                                             is_bigendian, step, data):
    try:
        out = decode_image(height, width, encoding, is_bigendian, step, data)
    except ImageDecodeError as exc:
        assert '\n' not in str(exc) and str(exc)
        return
    img = out.rgb if out.kind == 'rgb' else out.depth
    assert img.shape[:2] == (height, width)


@st.composite
def _nearly_valid(draw):
    """Fields that are right or off by a little, so decoding often succeeds."""
    encoding = draw(st.sampled_from(SUPPORTED_ENCODINGS))
    bpp = ic._ENCODINGS[encoding.lower()].bytes_per_pixel
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    step = w * bpp + draw(st.integers(-2, 5))
    size = max(0, step * h + draw(st.sampled_from([0, 0, 0, -1, 1, -7])))
    return h, w, encoding, draw(st.integers(0, 2)), step, draw(st.binary(min_size=size, max_size=size))


@settings(max_examples=400, deadline=None)
@given(fields=_nearly_valid())
def test_fuzz_nearly_valid_fields(fields):
    h, w, encoding = fields[:3]
    try:
        out = decode_image(*fields)
    except ImageDecodeError:
        return
    if out.kind == 'rgb':
        assert out.rgb.shape == (h, w, 3) and out.rgb.dtype == np.uint8
    else:
        assert out.depth.shape == (h, w) and out.depth.dtype == np.float32


_VALID_JPEG = _compressed(RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8), 'JPEG')
_VALID_PNG = _compressed(RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8), 'PNG')


@settings(max_examples=300, deadline=None)
@given(fmt=st.one_of(st.sampled_from(['jpeg', 'png', '']), st.text(max_size=8)),
       data=st.one_of(
           st.binary(max_size=200),
           st.integers(0, len(_VALID_JPEG)).map(lambda n: _VALID_JPEG[:n]),
           st.integers(0, len(_VALID_PNG)).map(lambda n: _VALID_PNG[:n]),
           st.tuples(st.integers(0, len(_VALID_PNG) - 1), st.integers(0, 255)).map(
               lambda t: _VALID_PNG[:t[0]] + bytes([t[1]]) + _VALID_PNG[t[0] + 1:]),
           st.tuples(st.integers(0, len(_VALID_JPEG) - 1), st.integers(0, 255)).map(
               lambda t: _VALID_JPEG[:t[0]] + bytes([t[1]]) + _VALID_JPEG[t[0] + 1:])))
def test_fuzz_compressed_only_raises_image_decode_error(fmt, data):
    try:
        out = decode_compressed(fmt, data)
    except ImageDecodeError as exc:
        assert '\n' not in str(exc)
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
