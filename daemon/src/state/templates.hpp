// daemon/src/state/templates.hpp — keeping resolved secrets out of the
// state directory. A version whose strings came from ${...} references is
// persisted as a *template segment*: the same snapshot built from the tree
// as written (the references unresolved), plus the key paths that were
// substituted. At restore the template segment is decoded, the references
// at those paths are expanded again, and the resolved segment is rebuilt
// with the version's id, publish time, trigger and sources.
//
// Thread-safety: none needed. Cost: O(nodes + bytes) per restored version.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "shmconf/segment.hpp"
#include "sources/substitute.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

// The tree a segment holds, with each value's Origin, and its source list.
// Throws std::runtime_error past format::kMaxDepth.
Value value_from_segment(const SegmentView& view, SourceList* sources = nullptr);

// Rebuilds the resolved segment from a template segment's bytes: expands
// the strings at `paths` (as written by substituted_paths()) and builds a
// segment with the template's version, publish time, trigger and sources.
// `previous` (may be null) feeds the changed-keys list. Throws ConfigError
// when a reference no longer resolves and std::runtime_error when the bytes
// are not a valid segment.
std::vector<std::byte> resolve_template_segment(std::string_view template_bytes,
                                                const std::vector<std::string>& paths,
                                                const SegmentView* previous,
                                                const SubstitutionContext& ctx);

}  // namespace shmconf::daemon
