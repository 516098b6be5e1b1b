// Module's hot paths in C: __call__ without hooks, __call__ with hooks, and attribute lookup of
// registered names.
//
// 1. __call__.
// torch's _call_impl starts with "if no forward/backward hooks on this module and none global,
// return forward(*args, **kwargs)". Written in Python that check alone costs ~0.4 us per call
// (a Python frame, *args/**kwargs packing, eight attribute loads through a class that defines
// __getattr__). This method descriptor does the same check with dict lookups and C truth tests
// and calls forward with the caller's argument vector, so a hook-free call costs little more
// than calling forward directly. Whenever anything is unusual (a missing registry, a subclass
// with its own __getattribute__) it hands over to the Python implementation, Module._call_impl,
// which is the reference semantics. With a hook present it runs its transliteration of
// Module._call_with_hooks ("the hooked path" below) unless that method was overridden.
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
  // The hooked path: Module._call_with_hooks as installed (a subclass or test that replaces it
  // gets the Python path) and the attribute / global names it reads.
  PyObject* call_with_hooks_name = nullptr;
  PyObject* call_with_hooks = nullptr;
  PyObject* items_name = nullptr;
  PyObject* run_always_name = nullptr;
  PyObject* pre_hooks_name = nullptr;       // _forward_pre_hooks
  PyObject* pre_kw_name = nullptr;          // _forward_pre_hooks_with_kwargs
  PyObject* fwd_hooks_name = nullptr;       // _forward_hooks
  PyObject* fwd_kw_name = nullptr;          // _forward_hooks_with_kwargs
  PyObject* fwd_always_name = nullptr;      // _forward_hooks_always_called
  PyObject* g_pre_name = nullptr;           // _global_forward_pre_hooks
  PyObject* g_fwd_name = nullptr;           // _global_forward_hooks
  PyObject* g_fwd_kw_name = nullptr;        // _global_forward_hooks_with_kwargs
  PyObject* g_fwd_always_name = nullptr;    // _global_forward_hooks_always_called
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

// ---- the hooked path -----------------------------------------------------------------------
//
// Module._call_with_hooks transliterated (same reads, same order, same per-hook membership tests,
// snapshots of each phase's items), without the Python frames of _call_hooked and
// _call_with_hooks: W6b's two no-op hooks cost ~9k instructions there, over half of the call.
// The except branch (always_call hooks after an error) stays in Python:
// Module._run_always_called_hooks, called with the error pending and re-raised after.

// A global of minimod.nn.module by name (borrowed), or NameError as Python's LOAD_GLOBAL.
PyObject* module_global(PyObject* name) {
  PyObject* v = PyDict_GetItemWithError(g_state.globals, name);
  if (v == nullptr && !PyErr_Occurred()) PyErr_Format(PyExc_NameError, "name '%U' is not defined", name);
  return v;
}

// `[*g.items(), *l.items()]` when g is non-empty, else `l.items()`, as a new list of
// (hook_id, hook) 2-tuples (a registry replaced by a dict works too; anything else that does not
// unpack into two raises as the Python loop would).
PyObject* phase_items(PyObject* global_reg, int global_nonempty, PyObject* local_reg) {
  PyObject* list = PyList_New(0);
  if (list == nullptr) return nullptr;
  PyObject* regs[2] = {global_nonempty ? global_reg : nullptr, local_reg};
  for (PyObject* reg : regs) {
    if (reg == nullptr) continue;
    PyObject* items = PyObject_CallMethodNoArgs(reg, g_state.items_name);
    PyObject* seq = items == nullptr ? nullptr : PySequence_Fast(items, "items() must be iterable");
    Py_XDECREF(items);
    if (seq == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
      PyObject* pair = PyTuple_CheckExact(item) ? (Py_INCREF(item), item) : PySequence_Tuple(item);
      if (pair != nullptr && PyTuple_GET_SIZE(pair) != 2) {
        PyErr_Format(PyExc_ValueError, "%s values to unpack (expected 2, got %zd)",
                     PyTuple_GET_SIZE(pair) > 2 ? "too many" : "not enough", PyTuple_GET_SIZE(pair));
        Py_CLEAR(pair);
      }
      if (pair == nullptr || PyList_Append(list, pair) != 0) {
        Py_XDECREF(pair);
        Py_DECREF(seq);
        Py_DECREF(list);
        return nullptr;
      }
      Py_DECREF(pair);
    }
    Py_DECREF(seq);
  }
  return list;
}

// `key in a or key in b` (b may be nullptr): 1, 0 or -1.
int in_either(PyObject* key, PyObject* a, PyObject* b) {
  int r = PySequence_Contains(a, key);
  if (r != 0 || b == nullptr) return r;
  return PySequence_Contains(b, key);
}

// Calls fn(*args, **kwargs) with Python's unpacking of any iterable / mapping.
PyObject* call_star(PyObject* fn, PyObject* args, PyObject* kwargs) {
  PyObject* tuple = PyTuple_Check(args) ? (Py_INCREF(args), args) : PySequence_Tuple(args);
  if (tuple == nullptr) return nullptr;
  PyObject* kw = nullptr;
  if (!PyDict_Check(kwargs)) {
    kw = PyDict_New();
    if (kw == nullptr || PyDict_Merge(kw, kwargs, 1) != 0) {
      Py_XDECREF(kw);
      Py_DECREF(tuple);
      return nullptr;
    }
  }
  PyObject* kwd = kw != nullptr ? kw : kwargs;
  // No keywords (the common case): a vectorcall straight from the tuple's items.
  PyObject* res = PyDict_GET_SIZE(kwd) != 0
                      ? PyObject_Call(fn, tuple, kwd)
                      : PyObject_Vectorcall(fn, &PyTuple_GET_ITEM(tuple, 0), PyTuple_GET_SIZE(tuple), nullptr);
  Py_XDECREF(kw);
  Py_DECREF(tuple);
  return res;
}

// Holds the references of one hooked call; every member is a new reference or nullptr.
struct HookedCall {
  PyObject* self;
  PyObject* forward = nullptr;
  PyObject* args = nullptr;
  PyObject* kwargs = nullptr;
  PyObject* result = nullptr;
  PyObject* called = nullptr;  // the set of always_call hook ids that ran (created on demand)
  ~HookedCall() {
    Py_XDECREF(forward);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(result);
    Py_XDECREF(called);
  }
  void set(PyObject** slot, PyObject* v) {  // steals v
    Py_XDECREF(*slot);
    *slot = v;
  }
};

// A registry attribute of self (new reference).
PyObject* self_attr(PyObject* self, PyObject* name) { return PyObject_GetAttr(self, name); }

// Opens one hook phase: the snapshot `[*global.items(), *local.items()]` (the global registry
// only when it holds hooks), where `local` is self's registry `local_name`. Returns 1 with a new
// list in *items, 0 when neither registry holds a hook (the phase is skipped), -1 on error.
int open_phase(PyObject* self, PyObject* local_name, PyObject* global_name, PyObject** items) {
  *items = nullptr;
  PyObject* local = self_attr(self, local_name);
  if (local == nullptr) return -1;
  PyObject* global = module_global(global_name);  // borrowed
  const int g_nonempty = global == nullptr ? -1 : PyObject_IsTrue(global);
  const int l_nonempty = g_nonempty != 0 ? 0 : PyObject_IsTrue(local);
  int rc = (g_nonempty < 0 || l_nonempty < 0) ? -1 : (g_nonempty || l_nonempty) ? 1 : 0;
  if (rc == 1 && (*items = phase_items(global, g_nonempty, local)) == nullptr) rc = -1;
  Py_DECREF(local);
  return rc;
}

int run_pre_hooks(HookedCall& c) {
  const CallState& st = g_state;
  PyObject* items = nullptr;
  const int open = open_phase(c.self, st.pre_hooks_name, st.g_pre_name, &items);
  if (open <= 0) return open;
  PyObject* pre_kw = self_attr(c.self, st.pre_kw_name);
  if (pre_kw == nullptr) {
    Py_DECREF(items);
    return -1;
  }
  int rc = 0;
  const Py_ssize_t n = PyList_GET_SIZE(items);
  for (Py_ssize_t i = 0; i < n && rc == 0; ++i) {
    PyObject* item = PyList_GET_ITEM(items, i);  // (hook_id, hook)
    PyObject* id = PyTuple_GET_ITEM(item, 0);
    PyObject* hook = PyTuple_GET_ITEM(item, 1);
    const int with_kw = PySequence_Contains(pre_kw, id);
    if (with_kw < 0) {
      rc = -1;
    } else if (with_kw) {
      PyObject* r = PyObject_CallFunctionObjArgs(hook, c.self, c.args, c.kwargs, nullptr);
      if (r == nullptr) {
        rc = -1;
      } else if (r != Py_None) {
        if (PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2) {
          PyObject* a = PyTuple_GET_ITEM(r, 0);
          PyObject* k = PyTuple_GET_ITEM(r, 1);
          Py_INCREF(a);
          Py_INCREF(k);
          c.set(&c.args, a);
          c.set(&c.kwargs, k);
        } else {
          PyErr_Format(PyExc_RuntimeError,
                       "forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                       "but got %S.", r);
          rc = -1;
        }
      }
      Py_XDECREF(r);
    } else {
      PyObject* r = PyObject_CallFunctionObjArgs(hook, c.self, c.args, nullptr);
      if (r == nullptr) {
        rc = -1;
      } else if (r == Py_None) {
        Py_DECREF(r);
      } else if (PyTuple_Check(r)) {
        c.set(&c.args, r);
      } else {
        PyObject* t = PyTuple_Pack(1, r);
        Py_DECREF(r);
        if (t == nullptr) rc = -1;
        else c.set(&c.args, t);
      }
    }
  }
  Py_DECREF(items);
  Py_DECREF(pre_kw);
  return rc;
}

int run_forward_hooks(HookedCall& c) {
  const CallState& st = g_state;
  PyObject* items = nullptr;
  const int open = open_phase(c.self, st.fwd_hooks_name, st.g_fwd_name, &items);
  if (open <= 0) return open;
  PyObject* fwd_kw = self_attr(c.self, st.fwd_kw_name);
  PyObject* fwd_always = fwd_kw == nullptr ? nullptr : self_attr(c.self, st.fwd_always_name);
  if (fwd_always == nullptr) {
    Py_DECREF(items);
    Py_XDECREF(fwd_kw);
    return -1;
  }
  int rc = 0;
  const Py_ssize_t n = PyList_GET_SIZE(items);
  for (Py_ssize_t i = 0; i < n && rc == 0; ++i) {
    PyObject* item = PyList_GET_ITEM(items, i);
    PyObject* id = PyTuple_GET_ITEM(item, 0);
    PyObject* hook = PyTuple_GET_ITEM(item, 1);
    PyObject* g_always = module_global(st.g_fwd_always_name);
    int always = g_always == nullptr ? -1 : in_either(id, fwd_always, g_always);
    if (always > 0) {
      if (c.called == nullptr) c.called = PySet_New(nullptr);
      if (c.called == nullptr || PySet_Add(c.called, id) != 0) always = -1;
    }
    PyObject* g_kw = always < 0 ? nullptr : module_global(st.g_fwd_kw_name);
    const int with_kw = g_kw == nullptr ? -1 : in_either(id, fwd_kw, g_kw);
    if (with_kw < 0) {
      rc = -1;
      break;
    }
    PyObject* r = with_kw
                      ? PyObject_CallFunctionObjArgs(hook, c.self, c.args, c.kwargs, c.result, nullptr)
                      : PyObject_CallFunctionObjArgs(hook, c.self, c.args, c.result, nullptr);
    if (r == nullptr) rc = -1;
    else if (r == Py_None) Py_DECREF(r);
    else c.set(&c.result, r);
  }
  Py_DECREF(items);
  Py_DECREF(fwd_kw);
  Py_DECREF(fwd_always);
  return rc;
}

PyObject* call_hooked_native(PyObject* self, PyObject* const* argv, Py_ssize_t nargs,
                             PyObject* kwnames) {
  HookedCall c{self};
  c.forward = PyObject_GetAttr(self, g_state.forward_name);
  if (c.forward == nullptr) return nullptr;
  c.args = PyTuple_New(nargs);
  c.kwargs = PyDict_New();
  if (c.args == nullptr || c.kwargs == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    Py_INCREF(argv[i]);
    PyTuple_SET_ITEM(c.args, i, argv[i]);
  }
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    if (PyDict_SetItem(c.kwargs, PyTuple_GET_ITEM(kwnames, k), argv[nargs + k]) != 0) return nullptr;
  }
  Py_INCREF(Py_None);
  c.result = Py_None;
  if (run_pre_hooks(c) == 0) {
    PyObject* r = call_star(c.forward, c.args, c.kwargs);
    if (r != nullptr) {
      c.set(&c.result, r);
      if (run_forward_hooks(c) == 0) {
        Py_INCREF(c.result);
        return c.result;
      }
    }
  }
  // except Exception: run the always_call hooks that did not run yet, then re-raise.
  if (!PyErr_ExceptionMatches(PyExc_Exception)) return nullptr;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (c.called == nullptr) c.called = PySet_New(nullptr);
  // The helper runs as Python's except branch would: with the error as the exception being
  // handled, so an error raised in it gets the original as its __context__ (and wins).
  PyObject *saved_t, *saved_v, *saved_tb;
  PyErr_GetExcInfo(&saved_t, &saved_v, &saved_tb);
  Py_XINCREF(type);
  Py_XINCREF(value);
  Py_XINCREF(tb);
  PyErr_SetExcInfo(type, value, tb);
  PyObject* done = c.called == nullptr ? nullptr
                   : PyObject_CallMethodObjArgs(self, g_state.run_always_name, c.args, c.kwargs,
                                                c.result, c.called, nullptr);
  PyErr_SetExcInfo(saved_t, saved_v, saved_tb);
  if (done == nullptr) {
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return nullptr;
  }
  Py_DECREF(done);
  PyErr_Restore(type, value, tb);
  return nullptr;
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
    // The native hooked path unless _call_with_hooks is not Module's (overridden or patched).
    const bool native_hooks =
        hooked == 1 && _PyType_Lookup(Py_TYPE(self), st.call_with_hooks_name) == st.call_with_hooks &&
        PyDict_GetItemWithError(dict, st.call_with_hooks_name) == nullptr && !PyErr_Occurred();
    Py_DECREF(dict);
    if (hooked < 0 || PyErr_Occurred()) return nullptr;
    if (native_hooks) return call_hooked_native(self, args, nargs, kwnames);
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
        st.call_with_hooks_name = PyUnicode_InternFromString("_call_with_hooks");
        st.call_with_hooks = _PyType_Lookup(type, st.call_with_hooks_name);
        Py_XINCREF(st.call_with_hooks);
        st.items_name = PyUnicode_InternFromString("items");
        st.run_always_name = PyUnicode_InternFromString("_run_always_called_hooks");
        st.pre_hooks_name = PyUnicode_InternFromString("_forward_pre_hooks");
        st.pre_kw_name = PyUnicode_InternFromString("_forward_pre_hooks_with_kwargs");
        st.fwd_hooks_name = PyUnicode_InternFromString("_forward_hooks");
        st.fwd_kw_name = PyUnicode_InternFromString("_forward_hooks_with_kwargs");
        st.fwd_always_name = PyUnicode_InternFromString("_forward_hooks_always_called");
        st.g_pre_name = PyUnicode_InternFromString("_global_forward_pre_hooks");
        st.g_fwd_name = PyUnicode_InternFromString("_global_forward_hooks");
        st.g_fwd_kw_name = PyUnicode_InternFromString("_global_forward_hooks_with_kwargs");
        st.g_fwd_always_name = PyUnicode_InternFromString("_global_forward_hooks_always_called");
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
