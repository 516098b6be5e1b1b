// The element types minimod storage can hold.
//
// float32 is the compute type of every kernel. The others exist so that any buffer a PyTorch
// module may register (int64 counters such as BatchNorm's num_batches_tracked, bool masks,
// float64 statistics) can live in native storage too, with the same layout numpy uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace minimod {

enum class DType : std::uint8_t {
  Bool,
  Int8,
  UInt8,
  Int16,
  Int32,
  Int64,
  Float16,
  Float32,
  Float64,
};

struct DTypeInfo {
  const char* name;    // numpy's name: "float32"
  const char* format;  // PEP 3118 buffer format character: "f"
  std::size_t itemsize;
};

const DTypeInfo& dtype_info(DType dtype);

// Parses a numpy dtype name ("float32", "int64", ...). Returns false for anything minimod
// storage cannot hold (object, structured, complex, strings, datetimes).
bool parse_dtype(const std::string& name, DType* out);

}  // namespace minimod
