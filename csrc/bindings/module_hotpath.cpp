// Module's two hot paths in C: __call__ without hooks, and attribute lookup of registered names.
//
// 1. __call__.
// torch's _call_impl starts with "if no forward/backward hooks on this module and none global,
// return forward(*args, **kwargs)". Written in Python that check alone costs ~0.4 us per call
// (a Python frame, *args/**kwargs packing, eight attribute loads through a class that defines
// __getattr__). This method descriptor does the same check with dict lookups and C truth tests
// and calls forward with the caller's argument vector, so a hook-free call costs little more
// than calling forward directly. Whenever anything is unusual (a hook, a missing registry, a
// subclass with its own __getattribute__) it hands over to the Python implementation,
// Module._call_impl, which is the reference semantics.
//
// 2. Attribute lookup. `self.weight` is found by Module.__getattr__ only after the normal lookup
// failed; on CPython 3.11 that failure builds and discards an AttributeError (with a formatted
// message) before __getattr__ runs: ~0.5 us per parameter read in every forward. The replacement
// tp_getattro does the normal lookup without raising, then the registry lookup of
// Module.__getattr__, and calls the Python __getattr__ only for a miss (to raise its message).
// It is installed only on classes whose __getattribute__ / __getattr__ are the ones Module
// inherits or defines; assigning either later makes CPython reinstall its generic slot.
#include <pybind11/pybind11.h>

#include <cstring>

#include "bindings/bindings.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

struct CallState {
  PyTypeObject* module_type = nullptr;  // minimod.nn.Module
  PyObject* generic_getattribute = nullptr;  // object.__getattribute__, as Module inherits it
  PyObject* globals = nullptr;    // minimod.nn.module's __dict__ (the global hook registries)
  PyObject* slow_path = nullptr;  // Module._call_impl(self, *args, **kwargs)
  PyObject* hooked_path = nullptr;  // Module._call_hooked: hooks known present, skips the test
  PyObject* forward_name = nullptr;
  PyObject* getattribute_name = nullptr;
  // Checked in torch's order; any missing entry sends the call to the Python path.
  PyObject* local_names[4] = {};
  PyObject* global_names[4] = {};
};

CallState g_state;

// Calls fn(self, *args, **kwargs) where args/kwnames is a vectorcall argument vector.
PyObject* call_with_self(PyObject* fn, PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  Py_ssize_t total = nargs + nkw;
  PyObject* small[16];
  PyObject** stack = small;
  if (total + 1 > 16) {
    stack = static_cast<PyObject**>(PyMem_Malloc((total + 1) * sizeof(PyObject*)));
    if (stack == nullptr) return PyErr_NoMemory();
  }
  stack[0] = self;
  if (total > 0) std::memcpy(stack + 1, args, total * sizeof(PyObject*));
  PyObject* res = PyObject_Vectorcall(fn, stack, nargs + 1, kwnames);
  if (stack != small) PyMem_Free(stack);
  return res;
}

// 1: a registry is non-empty; 2: one is missing (before __init__: the Python path raises);
// 0: all empty; -1: error.
int any_hooks(PyObject* dict, PyObject* const* names) {
  for (int i = 0; i < 4; ++i) {
    PyObject* reg = PyDict_GetItemWithError(dict, names[i]);  // borrowed
    if (reg == nullptr) return PyErr_Occurred() ? -1 : 2;
    int truth = PyObject_IsTrue(reg);  // a C slot for Registry: no Python frame
    if (truth != 0) return truth;
  }
  return 0;
}

PyObject* module_call(PyObject* self, PyObject* const* args, Py_ssize_t nargsf,
                      PyObject* kwnames) {
  const CallState& st = g_state;
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (_PyType_Lookup(Py_TYPE(self), st.getattribute_name) != st.generic_getattribute) {
    // A subclass customises attribute access: only the Python path sees it.
    return call_with_self(st.slow_path, self, args, nargs, kwnames);
  }
  PyObject* dict = PyObject_GenericGetDict(self, nullptr);  // new reference
  if (dict == nullptr) return nullptr;
  int hooked = any_hooks(dict, st.local_names);
  if (hooked == 0) hooked = any_hooks(st.globals, st.global_names);
  if (hooked != 0) {
    Py_DECREF(dict);
    if (hooked < 0) return nullptr;
    return call_with_self(hooked == 1 ? st.hooked_path : st.slow_path, self, args, nargs,
                          kwnames);
  }
  // self.forward, resolved as Python would: a plain function on the class unless the instance
  // dict overrides it; anything else (property, staticmethod, ...) through getattr.
  PyObject* func = _PyType_Lookup(Py_TYPE(self), st.forward_name);  // borrowed
  if (func != nullptr && PyFunction_Check(func)) {
    PyObject* inst = PyDict_GetItemWithError(dict, st.forward_name);  // borrowed
    if (inst == nullptr && PyErr_Occurred()) {
      Py_DECREF(dict);
      return nullptr;
    }
    PyObject* res;
    if (inst != nullptr) {
      Py_INCREF(inst);
      Py_DECREF(dict);
      res = PyObject_Vectorcall(inst, args, nargs, kwnames);
      Py_DECREF(inst);
    } else {
      Py_INCREF(func);
      Py_DECREF(dict);
      res = call_with_self(func, self, args, nargs, kwnames);
      Py_DECREF(func);
    }
    return res;
  }
  Py_DECREF(dict);
  PyObject* bound = PyObject_GetAttr(self, st.forward_name);
  if (bound == nullptr) return nullptr;
  PyObject* res = PyObject_Vectorcall(bound, args, nargs, kwnames);
  Py_DECREF(bound);
  return res;
}

// ---- attribute lookup ---------------------------------------------------------------------

struct GetattrState {
  PyObject* registry_names[3] = {};  // _parameters, _buffers, _modules: Module.__getattr__'s order
  PyObject* py_getattr = nullptr;    // Module.__getattr__: raises the AttributeError on a miss
};

GetattrState g_getattr;

PyObject* module_getattro(PyObject* self, PyObject* name) {
#if PY_VERSION_HEX < 0x030D0000
  PyObject* res = _PyObject_GenericGetAttrWithDict(self, name, nullptr, /*suppress=*/1);
  if (res != nullptr || PyErr_Occurred()) return res;
#else
  PyObject* res = PyObject_GenericGetAttr(self, name);
  if (res != nullptr || !PyErr_ExceptionMatches(PyExc_AttributeError)) return res;
  PyErr_Clear();
#endif
  PyObject* dict = PyObject_GenericGetDict(self, nullptr);
  if (dict == nullptr) {
    PyErr_Clear();  // no __dict__: Module.__getattr__ reports the miss
  } else {
    for (PyObject* reg_name : g_getattr.registry_names) {
      PyObject* reg = PyDict_GetItemWithError(dict, reg_name);  // borrowed
      if (reg == nullptr) {
        if (PyErr_Occurred()) break;
        continue;
      }
      int found = PySequence_Contains(reg, name);  // a C slot for Registry
      if (found < 0) break;
      if (found == 1) {
        res = PyObject_GetItem(reg, name);
        Py_DECREF(dict);
        return res;
      }
    }
    Py_DECREF(dict);
    if (PyErr_Occurred()) return nullptr;
  }
  return PyObject_CallFunctionObjArgs(g_getattr.py_getattr, self, name, nullptr);
}

PyMethodDef g_call_def = {
    "__call__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(module_call)),
    METH_FASTCALL | METH_KEYWORDS,
    "__call__($self, /, *args, **kwargs)\n--\n\n"
    "Run forward(*args, **kwargs) with the module's and the global hooks (torch's _call_impl)."};

}  // namespace

void init_module_hotpath(py::module_& m) {
  m.def(
      "_module_call_descriptor",
      [](py::type module_type, py::dict globals, py::object slow_path, py::object hooked_path) {
        CallState& st = g_state;
        if (st.module_type != nullptr) {
          throw py::value_error("the Module call fast path is already installed");
        }
        auto* type = reinterpret_cast<PyTypeObject*>(module_type.ptr());
        const char* locals[4] = {"_backward_hooks", "_backward_pre_hooks", "_forward_hooks",
                                 "_forward_pre_hooks"};
        const char* globs[4] = {"_global_backward_pre_hooks", "_global_backward_hooks",
                                "_global_forward_hooks", "_global_forward_pre_hooks"};
        for (int i = 0; i < 4; ++i) {
          st.local_names[i] = PyUnicode_InternFromString(locals[i]);
          st.global_names[i] = PyUnicode_InternFromString(globs[i]);
        }
        st.forward_name = PyUnicode_InternFromString("forward");
        st.module_type = type;
        st.getattribute_name = PyUnicode_InternFromString("__getattribute__");
        st.generic_getattribute = _PyType_Lookup(type, st.getattribute_name);
        Py_XINCREF(st.generic_getattribute);
        st.globals = globals.inc_ref().ptr();
        st.slow_path = slow_path.inc_ref().ptr();
        st.hooked_path = hooked_path.inc_ref().ptr();
        Py_INCREF(type);
        PyObject* descr = PyDescr_NewMethod(type, &g_call_def);
        if (descr == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(descr);
      },
      py::arg("module_type"), py::arg("globals"), py::arg("slow_path"), py::arg("hooked_path"),
      "Module.__call__ as a C method descriptor (module-internal; installed once).");

  m.def(
      "_install_module_getattro",
      [](py::type cls, py::object module_getattr) {
        auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
        if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
          throw py::type_error("_install_module_getattro expects a Python class");
        }
        if (g_getattr.py_getattr == nullptr) {
          const char* names[3] = {"_parameters", "_buffers", "_modules"};
          for (int i = 0; i < 3; ++i) g_getattr.registry_names[i] = PyUnicode_InternFromString(names[i]);
          g_getattr.py_getattr = module_getattr.inc_ref().ptr();
        } else if (module_getattr.ptr() != g_getattr.py_getattr) {
          throw py::value_error("_install_module_getattro: a different Module.__getattr__");
        }
        type->tp_getattro = module_getattro;
        PyType_Modified(type);
      },
      py::arg("cls"), py::arg("module_getattr"),
      "Give cls the native attribute lookup of Module (module-internal).");
  m.def(
      "_has_module_getattro",
      [](py::type cls) {
        return reinterpret_cast<PyTypeObject*>(cls.ptr())->tp_getattro == module_getattro;
      },
      py::arg("cls"), "Whether cls uses Module's native attribute lookup (tests).");
}

}  // namespace minimod::bindings
