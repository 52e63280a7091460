// daemon/src/core/overrides.hpp — the runtime override layer (`set`,
// `unset`): dotted object paths into a Value tree, and the layer as the
// highest-priority source of a load.
//
// Thread-safety: plain functions. Cost: O(path) per set/erase; O(layer) for
// override_layer().
#pragma once

#include <cstdint>
#include <string>

#include "tree/value.hpp"

namespace shmconf::daemon {

// Sets `path` ("a.b.c") in an object tree, creating objects on the way.
// Throws ConfigError for an empty part or one holding '[' or ']'.
void set_path(Value& root, const std::string& path, Value v);
// Removes `path`; false when it was not there.
bool erase_path(Value& root, const std::string& path);
// The override layer as a source: a copy of `overrides` whose every value
// has `source` as its origin (no line or column).
Value override_layer(const Value& overrides, std::uint32_t source);

}  // namespace shmconf::daemon
