// daemon/src/publish/builder_internal.hpp — what the layout (builder.cpp)
// and the change list (builder_diff.cpp) share: a leaf's payload, a node's
// child count, and one step of a key path.
//
// Private to daemon/src/publish/.
#pragma once

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tree/value.hpp"

namespace shmconf::daemon::builder_detail {

inline std::uint64_t scalar_payload(const Value& v) {
  switch (v.type) {
    case Type::kBool:
      return v.b ? 1 : 0;
    case Type::kInt:
      return static_cast<std::uint64_t>(v.i);
    case Type::kDouble:
      return std::bit_cast<std::uint64_t>(v.d);
    default:
      return 0;
  }
}

inline std::size_t child_count(const Value& v) {
  if (v.type == Type::kArray) return v.items.size();
  if (v.type == Type::kObject) return v.fields.size();
  return 0;
}

inline void append_step(std::string& path, bool array, std::string_view name, std::size_t k) {
  if (array) {
    char buf[24];
    buf[0] = '[';
    char* end = std::to_chars(buf + 1, buf + sizeof buf - 1, k).ptr;
    *end++ = ']';
    path.append(buf, static_cast<std::size_t>(end - buf));
  } else {
    if (!path.empty()) path += '.';
    path += name;
  }
}

}  // namespace shmconf::daemon::builder_detail
