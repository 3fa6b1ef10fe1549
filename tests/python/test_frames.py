"""cellpoint.io.frames.FrameStack: what `track()` accepts, the errors for what it does not, and
that lazy arrays are read one frame at a time."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cellpoint.io.frames import MAX_PIXELS_PER_FRAME, MAX_SIDE, MIN_SIDE, FrameStack, StackError

Array = npt.NDArray[Any]


class LazyArray:
    """A stand-in for a dask / zarr / h5py array: shape, dtype and indexing, and a record of every
    index read. Reading anything but one whole frame (an int index) fails the test."""

    def __init__(
        self, data: Array | None = None, *, shape: tuple[int, ...] = (), dtype: Any = None
    ):
        self._data = data
        self.shape = data.shape if data is not None else shape
        self.dtype = data.dtype if data is not None else np.dtype(dtype)
        self.reads: list[Any] = []

    def __getitem__(self, index: Any) -> Array:
        self.reads.append(index)
        assert isinstance(index, (int, np.integer)), f"read {index!r}, not one frame"
        assert self._data is not None
        frame: Array = self._data[index]
        return frame

    def __array__(self, *args: Any, **kwargs: Any) -> Array:
        raise AssertionError("the whole lazy array was loaded")


def frames(t: int = 3, h: int = 20, w: int = 24, dtype: Any = np.float32) -> Array:
    rng = np.random.default_rng(0)
    return (rng.random((t, h, w)) * 200).astype(dtype)


def stack_error(data: Any) -> str:
    with pytest.raises(StackError) as info:
        FrameStack(data)
    return str(info.value)


# --- accepted inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [
        np.uint8,
        np.uint16,
        np.uint32,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
    ],
)
def test_numpy_stack_of_any_real_dtype(dtype: Any) -> None:
    data = frames(dtype=dtype)
    stack = FrameStack(data)
    assert stack.shape == (3, 20, 24)
    assert len(stack) == 3
    assert stack.dtype == np.dtype(dtype)
    for t in range(3):
        frame = stack[t]
        assert frame.dtype == np.float32
        assert frame.shape == (20, 24)
        np.testing.assert_array_equal(frame, data[t].astype(np.float32))
    assert repr(stack) == f"FrameStack(3 frames of 20 x 24 px, {np.dtype(dtype)})"


def test_uint16_and_float_values_are_kept_as_float32() -> None:
    data = np.zeros((2, 16, 16), np.uint16)
    data[0, 0, :4] = [0, 1, 4095, 65535]
    data[1, 5, 5] = 40000
    stack = FrameStack(data)
    assert stack[0][0, :4].tolist() == [0.0, 1.0, 4095.0, 65535.0]
    assert stack[1][5, 5] == 40000.0
    # Floats keep their values (to float32 precision), negative and tiny ones included.
    floats = np.zeros((2, 16, 16), np.float64)
    floats[0, 0, :4] = [-3.5, 1e-7, 123456.0, 0.1]
    got = FrameStack(floats)[0]
    assert got.dtype == np.float32
    expected = np.array([-3.5, 1e-7, 123456.0, 0.1], np.float32)
    np.testing.assert_array_equal(got[0, :4], expected)


def test_single_channel_axis_is_dropped() -> None:
    data = frames()[..., None]
    stack = FrameStack(data)
    assert stack.shape == (3, 20, 24)
    np.testing.assert_array_equal(stack[1], data[1, ..., 0])


def test_rgb_is_converted_to_grey_with_a_warning() -> None:
    data = np.zeros((2, 16, 16, 3), np.uint8)
    data[0, 0, 0] = (255, 0, 0)
    data[0, 0, 1] = (0, 255, 0)
    data[0, 0, 2] = (0, 0, 255)
    data[0, 0, 3] = (100, 100, 100)
    data[1, 2, 2] = (10, 20, 30)
    with pytest.warns(UserWarning, match=r"3 colour channels.*grey"):
        stack = FrameStack(data)
    assert stack.shape == (2, 16, 16)
    grey = stack[0]
    assert grey.dtype == np.float32
    assert grey.shape == (16, 16)
    np.testing.assert_allclose(
        grey[0, :4], [0.299 * 255, 0.587 * 255, 0.114 * 255, 100.0], rtol=1e-6
    )
    assert grey[1:].max() == 0
    np.testing.assert_allclose(stack[1][2, 2], 0.299 * 10 + 0.587 * 20 + 0.114 * 30, rtol=1e-6)


def test_grey_and_single_channel_stacks_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FrameStack(frames())
        FrameStack(frames()[..., None])
        FrameStack(list(frames()))


def test_list_of_2d_frames() -> None:
    data = frames(dtype=np.uint16)
    for container in (list, tuple):
        stack = FrameStack(container(data))
        assert stack.shape == (3, 20, 24)
        assert stack.dtype == np.uint16
        np.testing.assert_array_equal(stack[2], data[2].astype(np.float32))


def test_list_of_mixed_dtypes_takes_the_common_one() -> None:
    a = np.full((16, 16), 7, np.uint8)
    b = np.full((16, 16), 0.5, np.float32)
    stack = FrameStack([a, b])
    assert stack.dtype == np.float32
    assert stack[0][0, 0] == 7.0
    assert stack[1][0, 0] == 0.5


def test_nested_python_lists_are_frames() -> None:
    frame = [[float(i + j) for j in range(16)] for i in range(16)]
    stack = FrameStack([frame, frame])
    assert stack.shape == (2, 16, 16)
    assert stack[1][3, 4] == 7.0


def test_indexing_outside_the_stack() -> None:
    stack = FrameStack(frames())
    for t in (-1, 3):
        with pytest.raises(IndexError, match=r"frame .* outside 0\.\.2"):
            stack[t]


def test_edge_sizes_are_accepted() -> None:
    FrameStack(np.zeros((2, MIN_SIDE, MIN_SIDE), np.uint8))
    FrameStack(LazyArray(shape=(2, MIN_SIDE, MAX_SIDE), dtype=np.uint8))
    FrameStack(LazyArray(shape=(2, 16384, 16384), dtype=np.uint8))  # exactly the pixel limit


# --- lazy arrays ------------------------------------------------------------------------------


def test_lazy_array_is_read_one_frame_at_a_time() -> None:
    data = frames(t=5, dtype=np.uint16)
    lazy = LazyArray(data)
    stack = FrameStack(lazy)
    assert lazy.reads == []  # checking the stack reads nothing
    assert stack.shape == (5, 20, 24)
    assert stack.dtype == np.uint16
    frame = stack[3]
    assert lazy.reads == [3]
    np.testing.assert_array_equal(frame, data[3].astype(np.float32))
    for t in range(5):
        stack[t]
    assert lazy.reads == [3, 0, 1, 2, 3, 4]


def test_lazy_rgb_array() -> None:
    data = np.zeros((2, 16, 16, 3), np.float32)
    data[1, 4, 4] = (1.0, 2.0, 3.0)
    lazy = LazyArray(data)
    with pytest.warns(UserWarning, match="grey"):
        stack = FrameStack(lazy)
    assert stack[1][4, 4] == pytest.approx(0.299 + 2 * 0.587 + 3 * 0.114, rel=1e-6)
    assert lazy.reads == [1]


def test_lazy_array_nan_is_found_when_its_frame_is_read() -> None:
    data = frames(t=4)
    data[2, 3, 5] = np.nan
    data[2, 7, 1] = np.nan
    data[2, 9, 9] = -np.inf
    lazy = LazyArray(data)
    stack = FrameStack(lazy)  # not read yet: no error
    assert lazy.reads == []
    stack[0]
    stack[1]
    with pytest.raises(StackError) as info:
        stack[2]
    assert str(info.value) == (
        "frame 2 has 2 NaN and 1 infinite values (first at y=3, x=5). "
        "Replace them (e.g. np.nan_to_num) first"
    )
    stack[3]
    assert lazy.reads == [0, 1, 2, 3]


def test_lazy_rgb_array_nan_gives_a_stack_error() -> None:
    data = np.zeros((2, 16, 16, 3), np.float32)
    data[1, 6, 2, 1] = np.nan
    with pytest.warns(UserWarning, match="grey"):
        stack = FrameStack(LazyArray(data))
    with pytest.raises(
        StackError,
        match=r"frame 1 has 1 NaN and 0 infinite values \(first at "
        r"y=6, x=2\)",
    ):
        stack[1]


def test_lazy_array_errors_do_not_read() -> None:
    lazy = LazyArray(shape=(1, 32, 32), dtype=np.float32)
    assert "1 frame;" in stack_error(lazy)
    lazy = LazyArray(shape=(4, 32, 32), dtype=np.complex64)
    assert "complex" in stack_error(lazy)
    assert lazy.reads == []


def test_not_an_array() -> None:
    message = stack_error("frames.tif")
    assert message == (
        "cannot track a str: give a numpy array (T, H, W), a list of 2D arrays, or a dask / zarr "
        "array"
    )
    assert stack_error(42).startswith("cannot track a int:")
    assert stack_error(None).startswith("cannot track a NoneType:")


# --- errors -----------------------------------------------------------------------------------


def test_empty_list() -> None:
    assert stack_error([]) == "the stack is empty: give at least 2 frames"
    assert stack_error(()) == "the stack is empty: give at least 2 frames"


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (np.zeros((1, 32, 32), np.uint8), "1 frame;"),
        (np.zeros((0, 32, 32), np.uint8), "0 frames;"),
        ([np.zeros((32, 32))], "1 frame;"),
        (np.zeros((1, 32, 32, 3), np.uint8), "1 frame;"),
    ],
)
def test_fewer_than_two_frames(data: Any, count: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the RGB case warns before it fails
        message = stack_error(data)
    assert message == f"the stack has {count} tracking needs at least 2"


@pytest.mark.parametrize(
    "shape",
    [(32, 32), (32,), (), (2, 3, 32, 32, 1), (4, 32, 32, 2), (4, 32, 32, 4), (4, 3, 32, 32)],
)
def test_wrong_number_of_dimensions(shape: tuple[int, ...]) -> None:
    message = stack_error(np.zeros(shape, np.float32))
    assert message.startswith(f"the stack has shape {shape}; expected (T, H, W) frames, or ")
    assert "(T, H, W, C) with C = 1 or 3" in message
    assert "select a 2D+t view first" in message


@pytest.mark.parametrize("shape", [(32,), (2, 32, 32), (32, 32, 3)])
def test_list_frames_must_be_2d(shape: tuple[int, ...]) -> None:
    good = np.zeros((32, 32), np.float32)
    message = stack_error([good, good, np.zeros(shape, np.float32)])
    assert message == f"frame 2 of the list has shape {shape}; each frame must be 2D"


def test_ragged_list_names_the_odd_frame() -> None:
    a, b = np.zeros((20, 30)), np.zeros((20, 31))
    message = stack_error([a, a, b, a])
    assert message == (
        "the frames differ in shape ({(20, 30): 3, (20, 31): 1}); frame 2 is (20, 31), "
        "frame 0 is (20, 30). All frames must have one shape."
    ) or message == (
        "the frames differ in shape ({(20, 31): 1, (20, 30): 3}); frame 2 is (20, 31), "
        "frame 0 is (20, 30). All frames must have one shape."
    )


@pytest.mark.parametrize(("h", "w"), [(15, 100), (100, 15), (8, 8), (0, 32)])
def test_tiny_frames(h: int, w: int) -> None:
    message = stack_error(np.zeros((3, h, w), np.uint8))
    assert message == f"frames of {h} x {w} px are too small (at least {MIN_SIDE} px a side)"


@pytest.mark.parametrize(
    ("h", "w"), [(MAX_SIDE + 1, 16), (16, MAX_SIDE + 1), (16385, 16384), (20000, 20000)]
)
def test_huge_frames(h: int, w: int) -> None:
    # Lazy, and a zero-stride numpy view: neither holds the pixels, and neither is read.
    lazy = LazyArray(shape=(2, h, w), dtype=np.uint16)
    message = stack_error(lazy)
    assert message == (
        f"frames of {h} x {w} px are too large (at most {MAX_SIDE} px a side and "
        f"{MAX_PIXELS_PER_FRAME:,} px a frame): crop or bin them first"
    )
    assert lazy.reads == []
    assert stack_error(np.broadcast_to(np.float32(0), (2, h, w))) == message


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (np.zeros((2, 16, 16), bool), "bool (boolean)"),
        (np.zeros((2, 16, 16), np.complex64), "complex64 (complex)"),
        (np.zeros((2, 16, 16), object), "object (object)"),
        (np.full((2, 16, 16), "a"), "<U1 (string)"),
        (np.full((2, 16, 16), b"a"), "|S1 (bytes)"),
        (np.zeros((2, 16, 16), "datetime64[s]"), "datetime64[s] (non-numeric)"),
        ([np.zeros((16, 16), bool)] * 2, "bool (boolean)"),
        ([np.zeros((16, 16), np.complex128)] * 2, "complex128 (complex)"),
        ([np.zeros((16, 16), np.float32), np.zeros((16, 16), np.complex64)], "complex64 (complex)"),
        ([np.full((16, 16), "x")] * 2, "<U1 (string)"),
        (np.zeros((2, 16, 16, 3), bool), "bool (boolean)"),
    ],
)
def test_unusable_dtypes(data: Any, what: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the RGB case warns before it fails
        message = stack_error(data)
    assert message == (
        f"frames of dtype {what} cannot be tracked: give real-valued intensities (integer or float)"
    )


def test_nan_and_inf_in_a_numpy_stack() -> None:
    data = frames(t=5, dtype=np.float64)
    data[1, 0, 0] = np.nan
    data[1, 4, 4] = np.nan
    data[3, 2, 2] = np.inf
    data[4, 2, 2] = -np.inf
    data[4, 3, 3] = np.nan
    message = stack_error(data)
    assert message == (
        "the stack has 3 NaN and 2 infinite values, in 3 frame(s): 1, 3, 4. "
        "Replace them (e.g. np.nan_to_num) first"
    )


def test_nan_frames_listed_up_to_ten() -> None:
    data = frames(t=14, h=16, w=16)
    data[1:, 0, 0] = np.nan  # frames 1..13
    message = stack_error(data)
    assert message.startswith(
        "the stack has 13 NaN and 0 infinite values, in 13 frame(s): 1, 2, 3, 4, 5, 6, 7, 8, 9, "
        "10 ...."
    )


def test_nan_in_rgb_numpy_stack() -> None:
    data = np.zeros((3, 16, 16, 3), np.float32)
    data[2, 1, 1, 2] = np.nan
    with pytest.warns(UserWarning, match="grey"):
        message = stack_error(data)
    assert message.startswith("the stack has 1 NaN and 0 infinite values, in 1 frame(s): 2.")


def test_nan_in_a_list_names_the_frame_and_pixel() -> None:
    good = np.zeros((16, 16), np.float32)
    bad = good.copy()
    bad[4, 9] = np.inf
    bad[5, 1] = np.nan
    message = stack_error([good, good, bad, good])
    assert message == (
        "frame 2 has 1 NaN and 1 infinite values (first at y=4, x=9). "
        "Replace them (e.g. np.nan_to_num) first"
    )


def test_errors_are_value_errors() -> None:
    assert issubclass(StackError, ValueError)
    with pytest.raises(ValueError, match=re.escape("too small")):
        FrameStack(np.zeros((2, 4, 4)))
