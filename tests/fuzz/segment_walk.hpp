// tests/fuzz/segment_walk.hpp — everything a client does with an opened
// segment: every node's name, key path, value and children, a lookup of
// every key, the origins, the metadata tables and a diff. `between()` runs
// between two steps; segment_mutate_fuzz.cpp changes bytes there.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fuzz.hpp"
#include "shmconf/segment.hpp"

namespace shmconf::fuzz {

// Nodes looked at per input: enough for any segment a fuzzer builds, few
// enough that one input stays fast.
inline constexpr std::uint32_t kMaxWalkNodes = 4096;

// Touches every byte of `s`, so AddressSanitizer sees a read out of bounds.
inline std::size_t touch(std::string_view s) {
  std::size_t sum = 0;
  for (char c : s) sum += static_cast<unsigned char>(c);
  return sum;
}

// An aligned copy of data with the checksum of its first segment_size bytes
// written in; returns the copy's byte size (0 when too short for a header).
inline std::size_t aligned_segment(const std::uint8_t* data, std::size_t size,
                                   std::vector<std::uint64_t>& out) {
  out.assign(size / 8 + 1, 0);
  std::copy(data, data + size, reinterpret_cast<unsigned char*>(out.data()));
  if (size < sizeof(format::SegmentHeader)) return size;
  auto* h = reinterpret_cast<format::SegmentHeader*>(out.data());
  const std::uint64_t end = std::min<std::uint64_t>(h->segment_size, size);
  if (end >= format::kChecksumFrom) {
    const auto* base = reinterpret_cast<const unsigned char*>(out.data());
    h->checksum = XXH3_64bits(base + format::kChecksumFrom, end - format::kChecksumFrom);
  }
  return size;
}

// `stable`: the bytes do not change, so lookups must agree with the tree.
template <class Between>
std::size_t walk_segment(const SegmentView& v, bool stable, Between between) {
  std::size_t sum = 0;
  char buf[format::kMaxKeyLength];
  const std::uint32_t count = std::min(v.node_count(), kMaxWalkNodes);
  for (std::uint32_t i = 0; i < count; ++i) {
    const format::Node& n = v.node(i);
    sum += touch(v.name(n));
    between();
    const std::size_t len = v.key_to(n, buf, sizeof buf);
    between();
    if (len <= sizeof buf && i != 0) {
      const std::string_view key(buf, len);
      const format::Node* found = v.find(key);
      between();
      // find() returns only a node whose path spells the key. (A hostile
      // segment may leave a key out of its index: open() checks the index's
      // shape, not every hash, so a miss is a wrong answer, not a fault.)
      if (stable && found != nullptr) SHMCONF_FUZZ_CHECK(v.key(*found) == key);
    }
    if (format::node_type(n) == format::Type::kString) sum += touch(v.string_value(n.payload));
    between();
    for (const format::Node& c : v.children(n)) {
      sum += touch(v.name(c)) + c.payload;
      between();
    }
    sum += touch(v.source_name(v.origin(n).source));
    between();
  }
  for (const format::StrRef& s : v.sources()) sum += touch(v.str(s.off, s.len));
  between();
  for (const format::ChangedKey& c : v.changed()) sum += touch(v.str(c.key_off, c.key_len));
  between();
  sum += touch(v.trigger());
  between();
  sum += v.find("no.such.key") != nullptr;
  between();
  sum += v.find("servers[0].host") != nullptr;
  between();
  const auto added = diff_segments(SegmentView{}, v);
  if (stable) {
    // Against nothing, every leaf is added; against itself, nothing changed.
    for (const SegmentChange& c : added) SHMCONF_FUZZ_CHECK(c.kind == format::Change::kAdded);
    SHMCONF_FUZZ_CHECK(diff_segments(v, v).empty());
  }
  return sum + added.size();
}

}  // namespace shmconf::fuzz
