// daemon/src/ops/metrics_internal.hpp — what daemon/src/ops/metrics.cpp
// and metrics_render.cpp share: the fixed reload stages and results every
// namespace reports (zero until observed), and the label helpers.
#pragma once

#include <string>
#include <utility>

#include "ops/exposition.hpp"

namespace shmconf::daemon::ops::metrics_internal {

inline constexpr const char* kStages[] = {"load",    "validate", "build",
                                          "publish", "persist",  "total"};
inline constexpr const char* kResults[] = {"published", "unchanged", "rejected"};

inline Labels ns_label(const std::string& ns) { return {{"namespace", ns}}; }

inline Labels with(Labels l, std::string k, std::string v) {
  l.emplace_back(std::move(k), std::move(v));
  return l;
}

}  // namespace shmconf::daemon::ops::metrics_internal
