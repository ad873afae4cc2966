// SPDX-License-Identifier: MIT
// The one struct_size rule of the C ABI (ADR 3, ADR 15), for every struct:
//   in-structs  are accepted at any size from their first published layout up to the
//               current one; the fields a smaller (older) caller's struct does not reach
//               keep the defaults of the struct's _init function;
//   out-structs are filled as far as the caller's size reaches, from their first
//               published layout on.
// A size beyond the current layout comes from a newer header than this library: an
// in-struct so large is refused (its extra fields would be ignored silently), an
// out-struct is filled up to the current layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/status.hpp"

namespace ptl::capi {

// Reads *in (non-NULL) into a copy of `defaults`. first_size: sizeof the struct's first
// published layout. what: the struct's C name, for messages.
template <typename T>
T read_in_struct(const T* in, const T& defaults, size_t first_size, const char* what) {
  const uint32_t size = in->struct_size;
  if (size < first_size) {
    core::fail(core::Status::kInvalid,
               std::string(what) + " struct_size is " + std::to_string(size) + ", less than " +
                   std::to_string(first_size) + " (call its _init function first)");
  }
  if (size > sizeof(T)) {
    core::fail(core::Status::kInvalid, std::string(what) + " struct_size is " +
                                           std::to_string(size) + ", larger than this library's " +
                                           std::to_string(sizeof(T)) +
                                           " (built against a newer header)");
  }
  T out = defaults;
  std::memcpy(static_cast<void*>(&out), in, size);
  out.struct_size = static_cast<uint32_t>(sizeof(T));
  return out;
}

// Copies `full` into *out (non-NULL) as far as out->struct_size reaches; struct_size
// itself is left as the caller set it. A size below first_size writes nothing.
template <typename T>
void write_out_struct(const T& full, T* out, size_t first_size, const char* what) {
  const uint32_t size = out->struct_size;
  if (size < first_size) {
    core::fail(core::Status::kInvalid,
               std::string(what) + " struct_size is " + std::to_string(size) + ", less than " +
                   std::to_string(first_size) + " (set it to sizeof(" + what + "))");
  }
  const size_t n = std::min<size_t>(size, sizeof(T));
  std::memcpy(static_cast<void*>(out), &full, n);
  out->struct_size = size;
}

}  // namespace ptl::capi
