// daemon/src/publish/builder.hpp — lays a Value tree out as a format v2
// segment (docs/FORMAT.md), in two steps so the caller can size the
// shared-memory object exactly before writing into it.
//
// The layout pass walks the tree once, depth first, with one path buffer:
// it gives every container's children a contiguous block of the node
// table, interns names and short strings (each distinct string is stored
// once), and hashes each node's full path from the buffer. The change list
// against the live version comes from one parallel walk of the tree and
// the live segment (objects' members are sorted on both sides).
//
// Thread-safety: a builder is used by one thread. Cost: O(nodes + bytes);
// a handful of vectors sized by the node count, nothing allocated per key
// (the change list allocates per changed key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmconf/segment.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

class SensitiveKeys;     // validate/validate.hpp
struct SensitiveString;  // validate/validate.hpp

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
  // Or the rule itself, applied in the layout walk (no set, no second walk
  // of the tree): as SensitiveKeys::collect decides. Null = none.
  const SensitiveKeys* keys = nullptr;
  // When set, receives every string the walk marks sensitive, with its
  // path: what the plaintext-secret check needs, without a walk of its own.
  std::vector<SensitiveString>* sensitive_strings = nullptr;
};

struct KeyChange {
  std::string key;
  format::Change kind;
};

class SnapshotBuilder {
 public:
  // Lays out the tree. Throws ConfigError when a path exceeds
  // format::kMaxKeyLength, a name format::kMaxNameLength, or the segment
  // would exceed 4 GiB.
  explicit SnapshotBuilder(const BuildInput& in);
  ~SnapshotBuilder();
  SnapshotBuilder(const SnapshotBuilder&) = delete;
  SnapshotBuilder& operator=(const SnapshotBuilder&) = delete;

  std::size_t size() const { return size_; }
  // The header's content hash, when BuildInput::content_hash was not known
  // yet at layout time; write() stores it.
  void set_content_hash(std::uint64_t hash) { in_.content_hash = hash; }
  // Writes the whole segment, checksum last, into dst (dst.size() >= size();
  // bytes past size() are left alone). `zeroed`: dst is known to hold only
  // zero bytes (a new object), so the gaps need no clearing.
  void write(std::span<std::byte> dst, bool zeroed = false) const;
  // Leaf keys that differ from BuildInput::previous, sorted; empty without one.
  const std::vector<KeyChange>& changes() const { return changes_; }
  std::size_t key_count() const { return items_.size() - 1; }

 private:
  // One node, as the layout pass leaves it for write(): the segment's node
  // and origin, except that string offsets are still relative to the pool.
  struct Item {
    const Value* value;
    std::string_view name_text;  // the member's key in the tree; "" for elements
    std::uint64_t payload;
    std::uint64_t hash;  // key_hash(full path, 0)
    std::uint32_t name;  // pool-relative offset of the name's bytes; kNone = none
    std::uint32_t bits;  // format::node_bits()
    format::Origin origin;
  };
  // Interned strings: an open-addressing table over the pool being laid
  // out. Sixteen bytes a slot: a large table (a 240k-key object of unique
  // names makes it 16 MB) is probed at random, so its size is cache and TLB
  // misses; the bytes are compared in pool_ only on a hash match.
  struct InternSlot {
    std::uint64_t hash = 0;  // 0 = empty
    std::uint32_t off = 0;   // pool-relative offset of the text
    std::uint32_t kind = 0;  // the text's length, | kNameBit for a name
  };
  static constexpr std::uint32_t kNameBit = 0x80000000u;

  // The layout's working memory, reused by the next builder on this thread:
  // a fresh 20 MB vector costs a first-touch page fault per 4 KiB, which on
  // these VMs was most of a 10 MB build.
  struct Scratch {
    std::vector<Item> items;
    std::vector<InternSlot> interned;
    std::vector<std::uint32_t> interned_at;  // the slots in use, to clear
    std::string pool;
  };
  static std::unique_ptr<Scratch> take_scratch();
  static std::vector<std::unique_ptr<Scratch>>& spare_scratches();

  // `rule_name`: the name the sensitivity rule sees for node i (its own, or
  // for an array element its array's).
  void lay_out(std::uint32_t i, std::string& path, unsigned depth, std::string_view rule_name);
  // A scalar's or empty container's payload; interns a string.
  std::uint64_t leaf_payload(const Value& v);
  bool sensitive_by_rule(const std::string& path, std::string_view rule_name) const;
  std::uint32_t intern(std::string_view s, bool name);
  void diff_against(const SegmentView& prev);

  BuildInput in_;
  std::unique_ptr<Scratch> scratch_ = take_scratch();
  std::vector<Item>& items_ = scratch_->items;
  std::vector<KeyChange> changes_;
  std::vector<InternSlot>& interned_ = scratch_->interned;
  std::vector<std::uint32_t>& interned_at_ = scratch_->interned_at;
  std::size_t interned_count_ = 0;
  // The string pool's bytes as the segment will hold them (names with their
  // length prefix, every string NUL-terminated), copied as the layout meets
  // each string, while it is in cache: write() copies the pool in one go.
  std::string& pool_ = scratch_->pool;
  std::uint32_t capacity_ = 0;
  std::uint32_t nodes_off_ = 0, origins_off_ = 0, index_off_ = 0, meta_off_ = 0, meta_size_ = 0;
  std::uint32_t strings_off_ = 0, strings_size_ = 0;
  std::size_t size_ = 0;
};

// Convenience for tests and the state store: the whole segment in memory.
std::vector<std::byte> build_segment(const BuildInput& in);

}  // namespace shmconf::daemon
