"""
Raw kernel entry points for tests and benchmarks.
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
__all__: list[str] = ['conv_affine', 'conv_bn_fused_runs', 'conv_nd', 'conv_path', 'fma_peak_gflops', 'gemm_config', 'linear_relu_fused_runs', 'set_conv_bn_pool_fusion', 'sgemm']
def conv_affine(input: typing.Any, weight: typing.Any, scale: typing.Any, shift: typing.Any, stride: typing.Any, padding: typing.Any, dilation: typing.Any, groups: typing.Any, relu: bool = False, path: str = 'auto') -> numpy.ndarray:
    """
    y = conv(input, weight) * scale[c] + shift[c] (then ReLU) through a forced path (auto, reference,
    gemm_1x1, shift_gemm, depthwise, im2col_gemm or winograd): the scaled epilogue of the fused
    Conv -> BatchNorm runs. stride/padding/dilation are ints or tuples; ValueError when the call is
    not plain or the path does not apply.
    """
def conv_bn_fused_runs() -> int:
    """
    How many Conv -> BatchNorm [-> ReLU] runs Sequential has computed fused so far.
    """
def conv_nd(input: typing.Any, weight: typing.Any, bias: typing.Any, stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_before: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_after: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], groups: typing.SupportsInt | typing.SupportsIndex, relu: bool = False, path: str = 'auto') -> numpy.ndarray:
    """
    conv_nd through a forced path: auto, reference (naive loops), gemm_1x1, shift_gemm (shift_gemm_columns / shift_gemm_pixel_rows: one orientation), depthwise, im2col_gemm, winograd (winograd_tile_rows / winograd_channel_rows: one GEMM orientation) (ValueError when the path does not apply).
    """
def conv_path(input: typing.Any, weight: typing.Any, stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_before: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_after: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], groups: typing.SupportsInt | typing.SupportsIndex) -> str:
    """
    The path conv_nd routes these arguments to.
    """
def fma_peak_gflops() -> float:
    """
    Measured multiply-add peak of the active ISA path on one core, GFLOP/s (~0.1 s).
    """
def gemm_config() -> dict:
    """
    The GEMM table of the active ISA: microkernel tile (mr x nr) and cache blocks.
    """
def linear_relu_fused_runs() -> int:
    """
    How many Linear -> ReLU pairs Sequential has computed fused so far.
    """
def set_conv_bn_pool_fusion(on: bool) -> None:
    """
    Whether a fused Conv2d -> BatchNorm2d -> ReLU run also takes a following MaxPool2d (default on; tests and benchmarks compare both).
    """
def sgemm(a: typing.Any, b: typing.Any, bias: typing.Any = None, bias_per_row: bool = False, relu: bool = False, reference: bool = False, parallel: bool = True) -> numpy.ndarray:
    """
    C = a @ b (+ bias per column, or per row with bias_per_row) (then ReLU), through the dispatched
    GEMM (the active ISA; the inner-product path for M <= 32, or M <= 64 with N <= 128, and the
    broadcast-weight path (AVX2/AVX-512) for other M <= 64, when a has unit column stride and b unit
    row stride; the small-M path for M <= 8 when a and b have unit column strides) or, with
    reference=True, the naive float64-accumulating loops. a and b may have any strides (their
    transposes, slices and negative strides are read in place: this tests the packing routines).
    """
