// libclient/src/node_read.hpp: typed reads from one node, shared by
// Snapshot, the one-shot getters and Key reads, so every path converts the
// same way. Inline: they sit on the hot path of Client::get_*.
#pragma once

#include <bit>
#include <cstdint>

#include "shmconf/client.hpp"
#include "shmconf/format.hpp"

namespace shmconf::detail {

inline Result<bool> node_bool(const format::Node* n) noexcept {
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) != Type::kBool) return Errc::kWrongType;
  return n->payload != 0;
}
inline Result<std::int64_t> node_int(const format::Node* n) noexcept {
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) != Type::kInt) return Errc::kWrongType;
  return static_cast<std::int64_t>(n->payload);
}
inline Result<double> node_double(const format::Node* n) noexcept {
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) == Type::kInt) {
    return static_cast<double>(static_cast<std::int64_t>(n->payload));
  }
  if (format::node_type(*n) != Type::kDouble) return Errc::kWrongType;
  return std::bit_cast<double>(n->payload);
}

}  // namespace shmconf::detail
