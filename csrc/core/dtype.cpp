#include "core/dtype.h"

namespace minimod {

namespace {
// Indexed by DType. Formats use the fixed-size codes numpy exports for each type on every
// platform we build for ('q' is 64-bit on LP64 and LLP64 alike).
const DTypeInfo kInfos[] = {
    {"bool", "?", 1},    {"int8", "b", 1},    {"uint8", "B", 1},
    {"int16", "h", 2},   {"int32", "i", 4},   {"int64", "q", 8},
    {"float16", "e", 2}, {"float32", "f", 4}, {"float64", "d", 8},
};
}  // namespace

const DTypeInfo& dtype_info(DType dtype) { return kInfos[static_cast<int>(dtype)]; }

bool parse_dtype(const std::string& name, DType* out) {
  for (int i = 0; i < static_cast<int>(sizeof(kInfos) / sizeof(kInfos[0])); ++i) {
    if (name == kInfos[i].name) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

}  // namespace minimod
