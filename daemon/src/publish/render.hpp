// daemon/src/publish/render.hpp — segment contents as JSON, for dump, diff,
// history and the control plane. Not on any client's read path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "shmconf/segment.hpp"

namespace shmconf::daemon {

struct RenderOptions {
  // Sensitive nodes (format::kNodeSensitive) render as "<redacted>" unless set.
  bool show_secrets = false;
};
inline constexpr const char* kRedactedValue = "<redacted>";

// The value of node `n` (recursively), sensitive values redacted unless
// `opts.show_secrets`. Throws std::runtime_error past format::kMaxDepth
// levels, so a hostile segment cannot exhaust the stack.
nlohmann::ordered_json node_to_json(const SegmentView& view, const format::Node& n,
                                    RenderOptions opts = {}, unsigned depth = 0);
// Provenance of a node: {"source": ..., "line": n, "column": n} (or null).
nlohmann::ordered_json node_origin(const SegmentView& view, const format::Node& n);
std::string hex64(std::uint64_t v);
// "added", "removed" or "changed", as the control protocol and history spell it.
const char* change_name(format::Change c);

}  // namespace shmconf::daemon
