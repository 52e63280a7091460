// shmconf/segment.hpp — a checked, read-only view of one snapshot segment.
//
// SegmentView::open() validates every header field, section bound, node,
// index slot and the checksum of a byte range (format.hpp, FORMAT.md
// "Validation") before it hands out a view. Nothing here allocates, throws,
// locks or makes a system call, so a hostile segment can make open() fail
// but cannot make a later lookup fault.
//
// A published segment never changes, but a reader does not rely on that for
// memory safety: the bounds open() proved (segment size, node, slot, source
// and change counts) are kept in the view, and every accessor checks what it
// reads from the segment against them (a node's parent lies below it, a
// child range above it, a string inside the segment). Bytes that change
// after open() can give wrong answers, never a read outside the segment or
// an endless walk (tests/fuzz/segment_mutate_fuzz.cpp).
//
// Thread-safety: a view is immutable; any number of threads may use one.
// Cost: open() is O(segment size) (one XXH3 pass plus one pass over nodes
// and slots); find() is one hash of the key, one slot and a walk up the
// node's parents comparing names with the key (FORMAT.md "Lookup").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmconf/format.hpp"
#include "shmconf/result.hpp"

namespace shmconf {

// XXH3-64 of a full key path with the segment's seed, never 0 (0 marks an
// empty index slot, so a hash of 0 is stored as 1).
std::uint64_t key_hash(std::string_view key, std::uint64_t seed) noexcept;

// Why open() refused a segment: a fixed buffer, so refusing allocates nothing.
struct SegmentError {
  char message[160] = {};
};

class SegmentView {
 public:
  SegmentView() = default;

  // Validates [data, data + size). `expected_checksum`, when non-zero, must
  // equal the header's (the control block's record carries it).
  static Errc open(const void* data, std::size_t size, std::uint64_t expected_checksum,
                   SegmentView* out, SegmentError* why = nullptr) noexcept;

  bool empty() const noexcept { return base_ == nullptr; }
  const format::SegmentHeader& header() const noexcept { return *hdr_; }
  std::uint64_t version() const noexcept { return hdr_->version; }
  std::uint32_t node_count() const noexcept { return node_count_; }
  const format::Node& node(std::uint32_t i) const noexcept { return nodes_[i]; }
  const format::Node& root() const noexcept { return nodes_[0]; }

  // Hot path: the node for full key path `key` (not the root), or nullptr.
  const format::Node* find(std::string_view key) const noexcept;
  // Same, with the key's hash already computed by key_hash(key, seed()).
  const format::Node* find(std::string_view key, std::uint64_t hash) const noexcept;
  std::uint64_t seed() const noexcept { return hdr_->hash_seed; }
  std::span<const format::IndexSlot> slots() const noexcept { return {slots_, index_capacity_}; }

  // Strings and structure. [off, off + len) outside the segment (only if
  // its bytes changed after open()) gives "".
  std::string_view str(std::uint32_t off, std::uint32_t len) const noexcept {
    if (off > size_ || len > size_ - off) return {};
    return {reinterpret_cast<const char*>(base_) + off, len};
  }
  // The node's own name: an object member's key, "" for the root and for
  // array elements (see array_index()).
  std::string_view name(const format::Node& n) const noexcept;
  // An array element's position in its array.
  std::uint32_t array_index(const format::Node& n) const noexcept {
    const std::uint32_t p = format::node_parent(n);
    return p < index_of(n) ? index_of(n) - format::low32(nodes_[p].payload) : 0;
  }
  // The full key path ("servers[2].host") written into buf[0, cap) without
  // a NUL; returns its length, and writes nothing when it exceeds `cap`.
  // Allocation-free; O(depth).
  std::size_t key_to(const format::Node& n, char* buf, std::size_t cap) const noexcept;
  // The same as a string (allocates; for tools, never on a read).
  std::string key(const format::Node& n) const;
  std::string_view string_value(std::uint64_t payload) const noexcept {
    return str(format::low32(payload), format::high32(payload));
  }
  std::span<const format::Node> children(const format::Node& n) const noexcept;
  std::uint32_t index_of(const format::Node& n) const noexcept {
    return static_cast<std::uint32_t>(&n - nodes_);
  }
  const format::Origin& origin(const format::Node& n) const noexcept {
    return origins_[index_of(n)];
  }

  // Metadata.
  std::span<const format::StrRef> sources() const noexcept { return {sources_, source_count_}; }
  std::span<const format::ChangedKey> changed() const noexcept {
    return {changed_, changed_count_};
  }
  std::string_view trigger() const noexcept { return str(meta_->trigger_off, meta_->trigger_len); }
  std::string_view source_name(std::uint32_t source) const noexcept;

 private:
  bool matches(std::string_view key, std::uint32_t node) const noexcept;

  const unsigned char* base_ = nullptr;
  const format::SegmentHeader* hdr_ = nullptr;
  const format::Node* nodes_ = nullptr;
  const format::IndexSlot* slots_ = nullptr;
  const format::Origin* origins_ = nullptr;
  const format::MetaHeader* meta_ = nullptr;
  const format::StrRef* sources_ = nullptr;
  const format::ChangedKey* changed_ = nullptr;
  // What open() proved, kept here rather than read again from the segment.
  std::uint64_t size_ = 0;  // the header's segment_size
  std::uint32_t node_count_ = 0;
  std::uint32_t index_capacity_ = 0;
  std::uint32_t source_count_ = 0;
  std::uint32_t changed_count_ = 0;
};

// A leaf (a scalar, or an empty array or object) is the unit of change.
bool is_leaf(const format::Node& n) noexcept;
// Leaves of two views compare equal: same type and same value.
bool same_leaf(const SegmentView& a, const format::Node& x, const SegmentView& b,
               const format::Node& y) noexcept;

struct SegmentChange {
  std::string key;
  format::Change kind;
  const format::Node* from_node;  // nullptr when added
  const format::Node* to_node;    // nullptr when removed
};
// Leaf keys under `prefix` (a plain string prefix of the full path) that
// differ from `from` to `to`, sorted by key. One walk of both trees (objects'
// children are sorted, so members pair up by a merge); allocates the result.
std::vector<SegmentChange> diff_segments(const SegmentView& from, const SegmentView& to,
                                         std::string_view prefix = {});

}  // namespace shmconf
