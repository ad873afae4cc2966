// SPDX-License-Identifier: MIT
#include "exec/presets.hpp"

namespace ptl::exec {
namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool same_name(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const PresetEntry* find_preset(std::string_view name) noexcept {
  for (const PresetEntry& p : presets()) {
    if (same_name(p.name, name)) return &p;
  }
  return nullptr;
}

}  // namespace ptl::exec
