// The _core extension module: a table of contents of the binding areas.
#include "bindings/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "minimod native core: storage, ordered registries and CPU kernels";
  minimod::bindings::init_storage(m);
  minimod::bindings::init_registry(m);
  minimod::bindings::init_module_hotpath(m);
  minimod::bindings::init_runtime(m);
  minimod::bindings::init_linalg(m);
  minimod::bindings::init_nn_ops(m);
  minimod::bindings::init_conv_hotpath(m);
}
