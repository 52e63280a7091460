// daemon/src/publish/builder.hpp — flattens a Value tree into a format v1
// segment (FORMAT.md), in two steps so the caller can size the shared-memory
// object exactly before writing into it.
//
// Thread-safety: a builder is used by one thread. Cost: O(nodes + bytes);
// one std::string per node for its full path while building.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "shmconf/segment.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

struct BuildInput {
  const Value* root = nullptr;  // must be an object
  const SourceList* sources = nullptr;
  std::uint64_t version = 0;
  std::uint64_t publish_time_ns = 0;
  std::uint64_t content_hash = 0;
  std::string trigger;
  // The live snapshot, to record which keys changed; empty view = none.
  const SegmentView* previous = nullptr;
  // Full key paths of sensitive values (SensitiveKeys::collect); their
  // nodes get format::kNodeSensitive. Null = none.
  const std::set<std::string>* sensitive = nullptr;
};

struct KeyChange {
  std::string key;
  format::Change kind;
};

class SnapshotBuilder {
 public:
  // Flattens the tree and computes the layout. Throws ConfigError when a
  // path exceeds format::kMaxKeyLength or the segment would exceed 4 GiB.
  explicit SnapshotBuilder(const BuildInput& in);

  std::size_t size() const { return size_; }
  // Writes the whole segment, checksum last, into dst (dst.size() >= size();
  // bytes past size() are left alone).
  void write(std::span<std::byte> dst) const;
  const std::vector<KeyChange>& changes() const { return changes_; }
  std::size_t key_count() const { return flat_.size() - 1; }

 private:
  struct Flat {
    const Value* value;
    std::string path;
    std::uint32_t name_pos;
    std::uint32_t parent;
    std::uint32_t first_child;
  };
  void flatten();
  void diff_against(const SegmentView& prev);

  BuildInput in_;
  std::vector<Flat> flat_;
  std::vector<KeyChange> changes_;
  std::uint32_t capacity_ = 0;
  std::uint32_t nodes_off_ = 0, index_off_ = 0, meta_off_ = 0, meta_size_ = 0;
  std::uint32_t strings_off_ = 0, strings_size_ = 0;
  std::size_t size_ = 0;
};

// Convenience for tests and the state store: the whole segment in memory.
std::vector<std::byte> build_segment(const BuildInput& in);

}  // namespace shmconf::daemon
