"""
minimod native core: storage, ordered registries and CPU kernels
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
from . import _testing
__all__: list[str] = ['Activation', 'Registry', 'Storage', 'activation', 'activation_', 'active_isa', 'adaptive_avg_pool2d', 'adaptive_max_pool2d', 'avg_pool2d', 'batch_norm_eval', 'batch_norm_train', 'conv_nd', 'detected_isa', 'empty', 'get_flush_denormal', 'get_num_threads', 'linear', 'max_pool2d', 'num_threads_source', 'set_flush_denormal', 'set_num_threads', 'softmax']
class Storage:
    """
    Native tensor memory: contiguous, 64-byte aligned, C-ordered, reference counted.
    
    Every parameter, buffer and forward output of minimod lives in a Storage. numpy views of it
    (``np.asarray(storage)`` or the arrays minimod hands out) share its memory and keep it alive.
    """
    def __init__(self, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: str = 'float32') -> None:
        ...
    def __repr__(self) -> str:
        ...
    def numpy(self) -> numpy.ndarray:
        """
        A numpy view (no copy) whose base is this Storage.
        """
    @property
    def data_ptr(self) -> int:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def read_only(self) -> bool:
        """
        When True, numpy views exported from now on are read-only.
        """
    @read_only.setter
    def read_only(self, arg1: bool) -> None:
        ...
    @property
    def shape(self) -> tuple:
        ...
class _RegistryIterator:
    def __iter__(self) -> typing.Any:
        ...
    def __next__(self) -> typing.Any:
        ...
class Registry:
    """
    An insertion-ordered mapping (collections.OrderedDict semantics) implemented natively.
    
    Keys are str or int. Lookup, insertion, deletion and ``move_to_end`` are O(1); assigning to an
    existing key keeps its position; changing the key set while iterating raises RuntimeError.
    """
    __hash__: typing.ClassVar[None] = None
    @staticmethod
    def items(*args, **kwargs):
        """
        The (key, value) pairs, in order (a snapshot list).
        """
    @staticmethod
    def keys(*args, **kwargs):
        """
        The keys, in order (a snapshot list).
        """
    @staticmethod
    def values(*args, **kwargs):
        """
        The values, in order (a snapshot list).
        """
    def __bool__(self) -> bool:
        ...
    def __contains__(self, arg0: typing.Any) -> bool:
        ...
    def __copy__(self) -> Registry:
        ...
    def __delitem__(self, arg0: typing.Any) -> None:
        ...
    def __eq__(self, arg0: typing.Any) -> typing.Any:
        ...
    def __getitem__(self, arg0: typing.Any) -> typing.Any:
        ...
    def __init__(self, items: typing.Any = None) -> None:
        ...
    def __iter__(self) -> _RegistryIterator:
        ...
    def __len__(self) -> int:
        ...
    def __reduce__(self) -> tuple[type, tuple[list]]:
        ...
    def __repr__(self) -> str:
        ...
    def __setitem__(self, arg0: typing.Any, arg1: typing.Any) -> None:
        ...
    def clear(self) -> None:
        ...
    def copy(self) -> Registry:
        ...
    def get(self, key, default = None):
        """
        The value for key, or default.
        """
    def move_to_end(self, key: typing.Any, last: bool = True) -> None:
        ...
    def pop(self, key: typing.Any, *args) -> typing.Any:
        ...
    def popitem(self, last: bool = True) -> tuple[typing.Any, typing.Any]:
        ...
    def setdefault(self, key: typing.Any, default: typing.Any = None) -> typing.Any:
        ...
    def update(self, other: typing.Any = None, **kwargs) -> None:
        ...
class Activation:
    """
    Elementwise activation selector for _core.activation.
    
    Members:
    
      relu
    
      hardtanh
    
      leaky_relu
    
      gelu
    
      gelu_tanh
    
      silu
    
      sigmoid
    
      tanh
    
      hardswish
    """
    __members__: typing.ClassVar[dict[str, Activation]]
    gelu: typing.ClassVar[Activation]
    gelu_tanh: typing.ClassVar[Activation]
    hardswish: typing.ClassVar[Activation]
    hardtanh: typing.ClassVar[Activation]
    leaky_relu: typing.ClassVar[Activation]
    relu: typing.ClassVar[Activation]
    sigmoid: typing.ClassVar[Activation]
    silu: typing.ClassVar[Activation]
    tanh: typing.ClassVar[Activation]
    @typing.overload
    def __eq__(self, other: Activation) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Activation) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
def _batch_norm_eval_or_none(input: typing.Any, running_mean: typing.Any, running_var: typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.Any, ranks: int) -> typing.Any:
    """
    BatchNorm's eval forward for plain float32 arguments (input rank r with bit r of ranks set), else None.
    """
def _cgroup_cpu_limit(root: str) -> int:
    """
    The CPU limit of the cgroup quota under the filesystem root `root` (tests), 0 if none.
    """
def _conv_or_fallback(fallback: typing.Any, nd: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    """
    f(input, weight, bias, stride, padding, dilation, groups): the native nd-d convolution for a plain batched float32 call, else fallback(...) (Conv*d's forward).
    """
def _denormal_probe() -> float:
    ...
def _has_module_getattro(cls: type) -> bool:
    """
    Whether cls uses Module's native attribute lookup (tests).
    """
def _install_conv_bn_fusion(conv_types: tuple, bn_types: tuple, relu_type: type, maxpool2d_type: type, linear_type: type, module_call: typing.Any, globals: dict) -> None:
    """
    Enable the fused Conv -> BatchNorm [-> ReLU] runs and Linear -> ReLU pairs of _sequential_forward (nn-internal; installed once).
    """
def _install_module_getattro(cls: type, module_getattr: typing.Any) -> None:
    """
    Give cls the native attribute lookup of Module (module-internal).
    """
def _linear_or_fallback(fallback: typing.Any) -> typing.Any:
    """
    f(input, weight, bias): the native linear for float32 arrays whose shapes match, else fallback(input, weight, bias) (Linear.forward's whole body).
    """
def _module_call_descriptor(module_type: type, globals: dict, slow_path: typing.Any, hooked_path: typing.Any) -> typing.Any:
    """
    Module.__call__ as a C method descriptor (module-internal; installed once).
    """
def _parallel_fail_test(n: typing.SupportsInt | typing.SupportsIndex, grain: typing.SupportsInt | typing.SupportsIndex, failing_item: typing.SupportsInt | typing.SupportsIndex, propagate: bool) -> int:
    ...
def _parallel_sum_test(n: typing.SupportsInt | typing.SupportsIndex, grain: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def _pool_size() -> int:
    """
    Worker threads currently running (tests).
    """
def _sequential_forward(modules: tuple, input: typing.Any) -> typing.Any:
    """
    Sequential.forward over a tuple of modules, running each plain eval-mode Conv -> BatchNorm [-> ReLU] run as one fused convolution and each plain Linear -> ReLU pair as one GEMM.
    """
def _set_active_isa(name: str) -> None:
    """
    Tests and benchmarks: force a kernel path this CPU supports.
    """
def _storage_stats() -> tuple[int, int]:
    """
    (live Storage objects, bytes they hold), process-wide: for leak and lifetime tests.
    """
def activation(x: typing.Any, op: Activation, a: typing.SupportsFloat | typing.SupportsIndex = 0.0, b: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> numpy.ndarray:
    """
    op(x) into a new native float32 array (x: float32, any layout). a, b: hardtanh's
    min/max, leaky_relu's slope.
    """
def activation_(x: numpy.ndarray, op: Activation, a: typing.SupportsFloat | typing.SupportsIndex = 0.0, b: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
    """
    op(x) in place; x must be a writeable C-contiguous float32 array.
    """
def active_isa() -> str:
    """
    The kernel path in use (MINIMOD_ISA may lower it).
    """
def adaptive_avg_pool2d(x: typing.Any, oh: typing.SupportsInt | typing.SupportsIndex, ow: typing.SupportsInt | typing.SupportsIndex) -> numpy.ndarray:
    """
    Adaptive 2-D average pooling to (oh, ow).
    """
def adaptive_max_pool2d(x: typing.Any, oh: typing.SupportsInt | typing.SupportsIndex, ow: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Adaptive 2-D max pooling to (oh, ow); returns (values, flat indices per plane).
    """
def avg_pool2d(x: typing.Any, kernel_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], padding: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], ceil_mode: bool, count_include_pad: bool, divisor_override: typing.SupportsInt | typing.SupportsIndex | None) -> numpy.ndarray:
    """
    2-D average pooling of a (C, H, W) or (N, C, H, W) float32 array; pairs are (H, W).
    """
def batch_norm_eval(x: typing.Any, running_mean: typing.Any, running_var: typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.SupportsFloat | typing.SupportsIndex) -> numpy.ndarray:
    """
    (x - mean) / sqrt(var + eps) * weight + bias with the given per-channel statistics.
    """
def batch_norm_train(x: typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.SupportsFloat | typing.SupportsIndex) -> tuple:
    """
    Normalise x (N, C, *) with its own per-channel statistics.
    
    Returns (y, mean, var): var is the biased batch variance; mean and var are float64 (C,) arrays
    (NaN when the batch is empty, in which case y is empty too).
    """
def conv_nd(input: typing.Any, weight: typing.Any, bias: typing.Any, stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_before: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_after: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], groups: typing.SupportsInt | typing.SupportsIndex, relu: bool = False) -> numpy.ndarray:
    """
    N-d convolution (1 to 3 spatial dimensions), NC* layout, float32, zero padding.
    
    input (N, C_in, *S), weight (C_out, C_in / groups, *k), bias (C_out,) or None. stride,
    pad_before, pad_after and dilation have one value per spatial dimension (pad_before/pad_after may
    differ: padding='same' with an even kernel pads more at the end). Routing: kernels/conv/conv.cpp.
    """
def detected_isa() -> str:
    """
    The best kernel path this CPU supports: 'generic', 'avx2' or 'avx512'.
    """
def empty(shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: str = 'float32', zero: bool = True) -> numpy.ndarray:
    """
    A new numpy array backed by native aligned Storage (zero-filled unless zero=False).
    """
def get_flush_denormal() -> bool:
    ...
def get_num_threads() -> int:
    """
    The number of threads minimod kernels may use.
    """
def linear(input: typing.Any, weight: typing.Any, bias: typing.Any = None, relu: bool = False) -> numpy.ndarray:
    """
    y = input @ weight.T + bias (then ReLU if relu), float32.
    
    input is (*, in_features), weight (out_features, in_features) as stored by Linear (read in place,
    never transposed), bias (out_features,) or None. Returns a new (*, out_features) array.
    float32 inputs that are C-contiguous and aligned are read in place; others are copied.
    """
def max_pool2d(x: typing.Any, kernel_size: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], stride: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], padding: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dilation: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], ceil_mode: bool, return_indices: bool) -> typing.Any:
    """
    2-D max pooling of a (C, H, W) or (N, C, H, W) float32 array; pairs are (H, W).
    """
def num_threads_source() -> str:
    """
    Where the thread count came from: set_num_threads, MINIMOD_NUM_THREADS, OMP_NUM_THREADS or cpus available.
    """
def set_flush_denormal(on: bool) -> None:
    """
    Flush denormals to zero inside minimod kernels only; the caller's FP mode is untouched.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Sets the number of threads minimod kernels may use (n >= 1).
    """
def softmax(x: typing.Any, dim: typing.SupportsInt | typing.SupportsIndex, log: bool = False) -> numpy.ndarray:
    """
    Softmax (or log-softmax) of float32 x along dim, into a new native array.
    """
