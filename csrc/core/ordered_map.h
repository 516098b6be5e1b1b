// OrderedMap: the ordered registry behind every Module's parameters, buffers, children and hooks.
//
// Semantics are those of Python's collections.OrderedDict, which is what PyTorch's registries are:
//   - iteration in insertion order;
//   - O(1) lookup, insert, delete, and move_to_end (front or back: `prepend=True` hooks);
//   - assigning to an existing key replaces the value in place and keeps its position.
// A version counter changes on every structural change (insert, erase, reorder, clear) but not on
// a replace, so an iterator can detect "mutated during iteration" before it touches a node that
// may be gone, exactly where OrderedDict raises.
//
// The template knows nothing about Python: the bindings instantiate it with py::object keys and
// values and Python's hash and equality.
#pragma once

#include <cstdint>
#include <iterator>
#include <list>
#include <unordered_map>
#include <utility>

namespace minimod {

template <class K, class V, class Hash = std::hash<K>, class Eq = std::equal_to<K>>
class OrderedMap {
 public:
  struct Entry {
    K key;
    V value;
  };
  using List = std::list<Entry>;
  using iterator = typename List::iterator;
  using const_iterator = typename List::const_iterator;

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  std::uint64_t version() const noexcept { return version_; }

  iterator begin() noexcept { return entries_.begin(); }
  iterator end() noexcept { return entries_.end(); }
  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }

  V* find(const K& key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }
  bool contains(const K& key) const { return index_.find(key) != index_.end(); }

  // Inserts at the end, or replaces in place (keeping the position) when the key exists.
  void set(const K& key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->value = std::move(value);
      return;
    }
    entries_.push_back(Entry{key, std::move(value)});
    try {
      index_.emplace(key, std::prev(entries_.end()));
    } catch (...) {
      entries_.pop_back();  // keep the list and the index in step
      throw;
    }
    ++version_;
  }

  // Removes the key; returns false when it was absent. `out` receives the removed value.
  bool erase(const K& key, V* out = nullptr) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    iterator node = it->second;
    index_.erase(it);
    if (out != nullptr) *out = std::move(node->value);
    entries_.erase(node);
    ++version_;
    return true;
  }

  // Moves an existing key to the back (last=true) or the front; returns false when absent.
  bool move_to_end(const K& key, bool last) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    entries_.splice(last ? entries_.end() : entries_.begin(), entries_, it->second);
    ++version_;
    return true;
  }

  void clear() {
    index_.clear();
    entries_.clear();
    ++version_;
  }

 private:
  List entries_;
  std::unordered_map<K, iterator, Hash, Eq> index_;
  std::uint64_t version_ = 0;
};

}  // namespace minimod
