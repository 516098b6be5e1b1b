// A tiny C API over the thread count, exported from the extension for threadpoolctl.
//
// threadpoolctl finds thread pools by walking the shared libraries loaded in the process and
// matching their file names; our extension's file name (`_core.cpython-*.so`) is shared with many
// other packages, so the Python controller (minimod/_threadpool_controller.py) also lists these
// symbols as `check_symbols`: a library is taken for minimod's only if it exports them. They are
// the only symbols the extension exports besides PyInit__core (pybind11 hides everything else).
#include "runtime/parallel.h"

#if defined(_WIN32)
#define MINIMOD_C_EXPORT extern "C" __declspec(dllexport)
#else
#define MINIMOD_C_EXPORT extern "C" __attribute__((visibility("default")))
#endif

MINIMOD_C_EXPORT int minimod_threadpool_get_num_threads() { return minimod::get_num_threads(); }

// Values below 1 are clamped to 1 (threadpoolctl never passes them; a C caller cannot get an
// exception).
MINIMOD_C_EXPORT void minimod_threadpool_set_num_threads(int n) {
  minimod::set_num_threads(n < 1 ? 1 : n);
}
