// Registry: core/ordered_map.h holding Python objects, exposed as a MutableMapping.
//
// Every Module registry (_parameters, _buffers, _modules and the hook dicts) is one of these. Keys
// are restricted to str and int (the names and hook ids PyTorch uses), whose hash and equality
// cannot run user code, so no Python callback can re-enter the map while it is being changed.
// The type takes part in Python's cyclic GC: a hook that closes over its own module is a cycle
// through a Registry, and it must be collectable.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "core/ordered_map.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

struct PyHash {
  std::size_t operator()(const py::object& o) const {
    Py_hash_t h = PyObject_Hash(o.ptr());  // str caches its hash; int hashes to itself
    return static_cast<std::size_t>(h);
  }
};
struct PyEq {
  bool operator()(const py::object& a, const py::object& b) const {
    if (a.ptr() == b.ptr()) return true;
    int r = PyObject_RichCompareBool(a.ptr(), b.ptr(), Py_EQ);
    if (r < 0) {  // cannot happen for str/int keys; never leave an error set
      PyErr_Clear();
      return false;
    }
    return r == 1;
  }
};

using Map = OrderedMap<py::object, py::object, PyHash, PyEq>;

struct Registry {
  Map map;
};

bool is_valid_key(const py::handle& key) {
  return PyUnicode_Check(key.ptr()) || PyLong_Check(key.ptr());
}

void check_key(const py::handle& key) {
  if (!is_valid_key(key)) {
    throw py::type_error("registry keys must be str (names) or int (hook ids), got " +
                         std::string(Py_TYPE(key.ptr())->tp_name));
  }
}

[[noreturn]] void raise_key_error(const py::handle& key) {
  PyErr_SetObject(PyExc_KeyError, key.ptr());
  throw py::error_already_set();
}

enum class IterKind { Keys, Values, Items };

struct RegistryIterator {
  py::object owner;  // keeps the Registry alive while iterating
  Registry* reg;
  Map::iterator pos;
  std::uint64_t version;
  IterKind kind;

  py::object next() {
    if (reg->map.version() != version) {
      // Checked before touching `pos`: the node it points to may have been erased.
      throw std::runtime_error("OrderedDict mutated during iteration");
    }
    if (pos == reg->map.end()) throw py::stop_iteration();
    auto& entry = *pos++;
    switch (kind) {
      case IterKind::Keys:
        return entry.key;
      case IterKind::Values:
        return entry.value;
      default:
        return py::make_tuple(entry.key, entry.value);
    }
  }
};

py::list snapshot(Registry& r, IterKind kind) {
  py::list out(r.map.size());
  std::size_t i = 0;
  for (auto& e : r.map) {
    switch (kind) {
      case IterKind::Keys:
        out[i++] = e.key;
        break;
      case IterKind::Values:
        out[i++] = e.value;
        break;
      default:
        out[i++] = py::make_tuple(e.key, e.value);
    }
  }
  return out;
}

void update_from(Registry& r, const py::handle& other) {
  if (py::hasattr(other, "keys")) {
    py::object keys = other.attr("keys")();
    for (py::handle k : keys) {
      check_key(k);
      r.map.set(py::reinterpret_borrow<py::object>(k), other[k]);
    }
    return;
  }
  for (py::handle item : other) {
    py::tuple pair = py::reinterpret_borrow<py::object>(item).cast<py::tuple>();
    if (pair.size() != 2) throw py::value_error("registry update expects (key, value) pairs");
    check_key(pair[0]);
    r.map.set(pair[0], pair[1]);
  }
}

int registry_traverse(PyObject* self, visitproc visit, void* arg) {
#if PY_VERSION_HEX >= 0x03090000
  Py_VISIT(Py_TYPE(self));
#endif
  if (!py::detail::is_holder_constructed(self)) return 0;
  auto& r = py::cast<Registry&>(py::handle(self));
  for (auto& e : r.map) {
    Py_VISIT(e.key.ptr());
    Py_VISIT(e.value.ptr());
  }
  return 0;
}

int registry_clear(PyObject* self) {
  if (!py::detail::is_holder_constructed(self)) return 0;
  auto& r = py::cast<Registry&>(py::handle(self));
  Map dropped;
  std::swap(dropped, r.map);  // the map is empty and consistent before any value is released
  return 0;
}

// ---- Fast protocol slots ---------------------------------------------------------------------
// Module.__call__ tests eight registries for emptiness on every call, and Module.__getattr__
// looks parameters up by name on every attribute access, so truth value, len, `in`, `r[k]` and
// `r[k] = v` / `del r[k]` are installed as C slots. Through pybind11's generic dispatcher each
// costs ~70 ns; as slots they cost what a dict's do. The named methods (__len__, ...) stay bound
// for explicit calls; the slots reimplement them exactly and never let a C++ exception escape.

Registry* registry_ptr(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  auto vh = inst->get_value_and_holder(nullptr, false);
  if (vh.inst == nullptr || !vh.holder_constructed()) return nullptr;  // before __init__ ran
  return vh.value_ptr<Registry>();
}

int slot_bool(PyObject* self) {
  Registry* r = registry_ptr(self);
  return (r != nullptr && !r->map.empty()) ? 1 : 0;
}

Py_ssize_t slot_len(PyObject* self) {
  Registry* r = registry_ptr(self);
  return r == nullptr ? 0 : static_cast<Py_ssize_t>(r->map.size());
}

int slot_contains(PyObject* self, PyObject* key) {
  Registry* r = registry_ptr(self);
  if (r == nullptr || !is_valid_key(key)) return 0;
  try {
    return r->map.contains(py::reinterpret_borrow<py::object>(key)) ? 1 : 0;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return -1;
  }
}

PyObject* slot_getitem(PyObject* self, PyObject* key) {
  Registry* r = registry_ptr(self);
  if (r != nullptr && is_valid_key(key)) {
    try {
      if (py::object* v = r->map.find(py::reinterpret_borrow<py::object>(key))) {
        return v->inc_ref().ptr();
      }
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      return nullptr;
    }
  }
  PyErr_SetObject(PyExc_KeyError, key);
  return nullptr;
}

int slot_setitem(PyObject* self, PyObject* key, PyObject* value) {
  Registry* r = registry_ptr(self);
  if (r == nullptr) {
    PyErr_SetString(PyExc_TypeError, "Registry.__init__ has not been called");
    return -1;
  }
  try {
    if (value == nullptr) {  // del r[key]
      if (!is_valid_key(key) || !r->map.erase(py::reinterpret_borrow<py::object>(key))) {
        PyErr_SetObject(PyExc_KeyError, key);
        return -1;
      }
      return 0;
    }
    if (!is_valid_key(key)) {
      PyErr_Format(PyExc_TypeError,
                   "registry keys must be str (names) or int (hook ids), got %s",
                   Py_TYPE(key)->tp_name);
      return -1;
    }
    r->map.set(py::reinterpret_borrow<py::object>(key), py::reinterpret_borrow<py::object>(value));
    return 0;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return -1;
  }
}

void install_fast_slots(py::handle cls) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  type->tp_as_number->nb_bool = slot_bool;
  type->tp_as_mapping->mp_length = slot_len;
  type->tp_as_sequence->sq_length = slot_len;
  type->tp_as_sequence->sq_contains = slot_contains;
  type->tp_as_mapping->mp_subscript = slot_getitem;
  type->tp_as_mapping->mp_ass_subscript = slot_setitem;
  PyType_Modified(type);
}

// keys() / values() / items() / get() run once or more per hooked call, state_dict and named_*
// walk; pybind11's dispatcher costs ~200 ns per call even for an empty registry. These plain
// CPython methods replace the bound ones (same semantics: snapshot lists, get's default).

PyObject* snapshot_list(PyObject* self, IterKind kind) {
  Registry* r = registry_ptr(self);
  if (r == nullptr) return PyList_New(0);
  PyObject* out = PyList_New(static_cast<Py_ssize_t>(r->map.size()));
  if (out == nullptr) return nullptr;
  Py_ssize_t i = 0;
  for (auto& e : r->map) {
    PyObject* item;
    if (kind == IterKind::Keys) {
      item = e.key.inc_ref().ptr();
    } else if (kind == IterKind::Values) {
      item = e.value.inc_ref().ptr();
    } else {
      item = PyTuple_Pack(2, e.key.ptr(), e.value.ptr());
      if (item == nullptr) {
        Py_DECREF(out);
        return nullptr;
      }
    }
    PyList_SET_ITEM(out, i++, item);
  }
  return out;
}

PyObject* meth_keys(PyObject* self, PyObject*) { return snapshot_list(self, IterKind::Keys); }
PyObject* meth_values(PyObject* self, PyObject*) { return snapshot_list(self, IterKind::Values); }
PyObject* meth_items(PyObject* self, PyObject*) { return snapshot_list(self, IterKind::Items); }

PyObject* meth_get(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "get expected 1 or 2 arguments, got %zd", nargs);
    return nullptr;
  }
  PyObject* deflt = nargs == 2 ? args[1] : Py_None;
  Registry* r = registry_ptr(self);
  if (r != nullptr && is_valid_key(args[0])) {
    try {
      if (py::object* v = r->map.find(py::reinterpret_borrow<py::object>(args[0]))) {
        return v->inc_ref().ptr();
      }
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      return nullptr;
    }
  }
  Py_INCREF(deflt);
  return deflt;
}

PyMethodDef g_fast_methods[] = {
    {"keys", meth_keys, METH_NOARGS, "The keys, in order (a snapshot list)."},
    {"values", meth_values, METH_NOARGS, "The values, in order (a snapshot list)."},
    {"items", meth_items, METH_NOARGS, "The (key, value) pairs, in order (a snapshot list)."},
    {"get", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(meth_get)), METH_FASTCALL,
     "get($self, key, default=None, /)\n--\n\nThe value for key, or default."},
    {nullptr, nullptr, 0, nullptr}};

void install_fast_methods(py::handle cls) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  for (PyMethodDef* def = g_fast_methods; def->ml_name != nullptr; ++def) {
    PyObject* descr = PyDescr_NewMethod(type, def);
    if (descr == nullptr) throw py::error_already_set();
    int rc = PyObject_SetAttrString(cls.ptr(), def->ml_name, descr);
    Py_DECREF(descr);
    if (rc != 0) throw py::error_already_set();
  }
}

}  // namespace

void init_registry(py::module_& m) {
  py::class_<RegistryIterator>(m, "_RegistryIterator")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](RegistryIterator& it) { return it.next(); });

  py::class_<Registry>(
      m, "Registry",
      py::custom_type_setup([](PyHeapTypeObject* heap_type) {
        auto* type = &heap_type->ht_type;
        type->tp_flags |= Py_TPFLAGS_HAVE_GC;
        type->tp_traverse = registry_traverse;
        type->tp_clear = registry_clear;
      }),
      R"pbdoc(
An insertion-ordered mapping (collections.OrderedDict semantics) implemented natively.

Keys are str or int. Lookup, insertion, deletion and ``move_to_end`` are O(1); assigning to an
existing key keeps its position; changing the key set while iterating raises RuntimeError.
)pbdoc")
      .def(py::init([](py::object items) {
             Registry r;
             if (!items.is_none()) update_from(r, items);
             return r;
           }),
           py::arg("items") = py::none())
      .def("__len__", [](const Registry& r) { return r.map.size(); })
      .def("__bool__", [](const Registry& r) { return !r.map.empty(); })
      .def("__contains__",
           [](Registry& r, py::handle key) {
             return is_valid_key(key) && r.map.contains(py::reinterpret_borrow<py::object>(key));
           })
      .def("__getitem__",
           [](Registry& r, py::handle key) -> py::object {
             if (is_valid_key(key)) {
               if (py::object* v = r.map.find(py::reinterpret_borrow<py::object>(key))) return *v;
             }
             raise_key_error(key);
           })
      .def("__setitem__",
           [](Registry& r, py::handle key, py::object value) {
             check_key(key);
             r.map.set(py::reinterpret_borrow<py::object>(key), std::move(value));
           })
      .def("__delitem__",
           [](Registry& r, py::handle key) {
             if (!is_valid_key(key) || !r.map.erase(py::reinterpret_borrow<py::object>(key)))
               raise_key_error(key);
           })
      .def("__iter__",
           [](py::object self) {
             auto& r = self.cast<Registry&>();
             return RegistryIterator{self, &r, r.map.begin(), r.map.version(), IterKind::Keys};
           })
      .def("keys", [](Registry& r) { return snapshot(r, IterKind::Keys); },
           "The keys, in order (a snapshot list).")
      .def("values", [](Registry& r) { return snapshot(r, IterKind::Values); },
           "The values, in order (a snapshot list).")
      .def("items", [](Registry& r) { return snapshot(r, IterKind::Items); },
           "The (key, value) pairs, in order (a snapshot list).")
      .def(
          "get",
          [](Registry& r, py::handle key, py::object default_) -> py::object {
            if (is_valid_key(key)) {
              if (py::object* v = r.map.find(py::reinterpret_borrow<py::object>(key))) return *v;
            }
            return default_;
          },
          py::arg("key"), py::arg("default") = py::none())
      .def(
          "pop",
          [](Registry& r, py::handle key, py::args default_) -> py::object {
            py::object out;
            if (is_valid_key(key) && r.map.erase(py::reinterpret_borrow<py::object>(key), &out))
              return out;
            if (default_.size() > 0) return default_[0];
            raise_key_error(key);
          },
          py::arg("key"))
      .def(
          "popitem",
          [](Registry& r, bool last) {
            if (r.map.empty()) throw py::key_error("dictionary is empty");
            py::object key = last ? std::prev(r.map.end())->key : r.map.begin()->key;
            py::object value;
            r.map.erase(key, &value);
            return py::make_tuple(key, value);
          },
          py::arg("last") = true)
      .def(
          "setdefault",
          [](Registry& r, py::handle key, py::object default_) -> py::object {
            check_key(key);
            auto k = py::reinterpret_borrow<py::object>(key);
            if (py::object* v = r.map.find(k)) return *v;
            r.map.set(k, default_);
            return default_;
          },
          py::arg("key"), py::arg("default") = py::none())
      .def(
          "update",
          [](Registry& r, py::object other, py::kwargs kwargs) {
            if (!other.is_none()) update_from(r, other);
            update_from(r, kwargs);
          },
          py::arg("other") = py::none())
      .def("clear", [](Registry& r) { r.map.clear(); })
      .def(
          "move_to_end",
          [](Registry& r, py::handle key, bool last) {
            if (!is_valid_key(key) || !r.map.move_to_end(py::reinterpret_borrow<py::object>(key), last))
              raise_key_error(key);
          },
          py::arg("key"), py::arg("last") = true)
      .def("copy",
           [](Registry& r) {
             Registry out;
             for (auto& e : r.map) out.map.set(e.key, e.value);
             return out;
           })
      .def("__copy__",
           [](Registry& r) {
             Registry out;
             for (auto& e : r.map) out.map.set(e.key, e.value);
             return out;
           })
      .def("__eq__",
           [](Registry& r, py::object other) -> py::object {
             if (!py::hasattr(other, "keys") || !py::hasattr(other, "__getitem__"))
               return py::reinterpret_borrow<py::object>(Py_NotImplemented);
             py::dict mine;
             for (auto& e : r.map) mine[e.key] = e.value;
             return py::bool_(mine.equal(py::dict(other)));
           })
      .def("__reduce__",
           [](py::object self) {
             auto& r = self.cast<Registry&>();
             return py::make_tuple(py::type::of(self), py::make_tuple(snapshot(r, IterKind::Items)));
           })
      .def("__repr__", [](Registry& r) {
        std::string out = "Registry({";
        bool first = true;
        for (auto& e : r.map) {
          if (!first) out += ", ";
          first = false;
          out += py::repr(e.key).cast<std::string>() + ": " + py::repr(e.value).cast<std::string>();
        }
        return out + "})";
      });
  py::setattr(m.attr("Registry"), "__hash__", py::none());
  install_fast_methods(m.attr("Registry"));
  install_fast_slots(m.attr("Registry"));  // last: setting attributes on the type resets slots
}

}  // namespace minimod::bindings
