// Segment validation and lookup. See FORMAT.md "Validation" for the list of
// checks; each one below is there because a later unchecked access relies on
// it.
#include "shmconf/segment.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shmconf {
namespace {

using format::IndexSlot;
using format::Node;

template <class... Args>
Errc refuse(SegmentError* why, Errc code, const char* fmt, Args... args) noexcept {
  if (why != nullptr) std::snprintf(why->message, sizeof why->message, fmt, args...);
  return code;
}

// [off, off + len) lies inside [lo, hi), computed without overflow.
bool within(std::uint64_t off, std::uint64_t len, std::uint64_t lo, std::uint64_t hi) noexcept {
  return off >= lo && off <= hi && len <= hi - off;
}

bool valid_type(std::uint8_t t) noexcept { return t < format::kTypeCount; }

}  // namespace

namespace {

// The lookup's pieces, inlined into both find() overloads: calls between
// exported functions of a shared library go through the PLT and are never
// inlined (they could be interposed), which cost the hot path about a
// quarter of its time.
inline std::uint64_t hash_of(std::string_view key, std::uint64_t seed) noexcept {
  const std::uint64_t h = XXH3_64bits_withSeed(key.data(), key.size(), seed);
  return h == 0 ? 1 : h;
}

inline std::uint64_t load64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint32_t load32(const unsigned char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// a[0, n) == b[0, n), for a key whose length and hash already matched:
// word compares (the last word overlapping) instead of a memcmp call for
// the usual key lengths.
inline bool same_key(const unsigned char* a, const unsigned char* b, std::size_t n) noexcept {
  if (n > 64) return std::memcmp(a, b, n) == 0;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      if (load64(a + i) != load64(b + i)) return false;
    }
    return load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace

std::uint64_t key_hash(std::string_view key, std::uint64_t seed) noexcept {
  return hash_of(key, seed);
}

Errc SegmentView::open(const void* data, std::size_t size, std::uint64_t expected_checksum,
                       SegmentView* out, SegmentError* why) noexcept {
  using format::SegmentHeader;
  const auto* base = static_cast<const unsigned char*>(data);
  if (data == nullptr || size < sizeof(SegmentHeader)) {
    return refuse(why, Errc::kCorrupt, "segment truncated: %zu bytes", size);
  }
  if (reinterpret_cast<std::uintptr_t>(data) % 8 != 0) {
    return refuse(why, Errc::kInvalid, "segment not 8-byte aligned");
  }
  const auto* h = static_cast<const SegmentHeader*>(data);
  if (h->magic != format::kSegmentMagic) {
    return refuse(why, Errc::kCorrupt, "bad segment magic 0x%016llx",
                  static_cast<unsigned long long>(h->magic));
  }
  if (h->format_version != format::kFormatVersion) {
    return refuse(why, Errc::kVersion, "segment format version %u, this reader knows %u",
                  h->format_version, format::kFormatVersion);
  }
  if (h->layout_signature != format::kLayoutSignature) {
    return refuse(why, Errc::kVersion, "segment layout signature 0x%08x, expected 0x%08x",
                  h->layout_signature, format::kLayoutSignature);
  }
  if (h->header_size != sizeof(SegmentHeader) || h->flags != 0) {
    return refuse(why, Errc::kCorrupt, "segment header size %u or flags 0x%x unknown",
                  h->header_size, h->flags);
  }
  const std::uint64_t end = h->segment_size;
  if (end < sizeof(SegmentHeader) || end > size || end > format::kMaxSegmentSize) {
    return refuse(why, Errc::kCorrupt, "segment size %llu outside the %zu mapped bytes",
                  static_cast<unsigned long long>(end), size);
  }
  if (expected_checksum != 0 && h->checksum != expected_checksum) {
    return refuse(why, Errc::kCorrupt, "segment checksum differs from the control block's");
  }
  if (XXH3_64bits(base + format::kChecksumFrom, end - format::kChecksumFrom) != h->checksum) {
    return refuse(why, Errc::kCorrupt, "segment checksum mismatch");
  }

  // Sections: aligned and inside the segment.
  const std::uint64_t hs = sizeof(SegmentHeader);
  if (h->nodes_off % 8 || h->index_off % 8 || h->meta_off % 8) {
    return refuse(why, Errc::kCorrupt, "misaligned section offset");
  }
  if (!within(h->nodes_off, std::uint64_t{h->node_count} * sizeof(Node), hs, end) ||
      !within(h->index_off, std::uint64_t{h->index_capacity} * sizeof(IndexSlot), hs, end) ||
      !within(h->strings_off, h->strings_size, hs, end) ||
      !within(h->meta_off, h->meta_size, hs, end) || h->meta_size < sizeof(format::MetaHeader)) {
    return refuse(why, Errc::kCorrupt, "section outside the segment");
  }
  if (h->node_count == 0 || h->index_capacity < h->node_count) {
    return refuse(why, Errc::kCorrupt, "index capacity %u too small for %u nodes",
                  h->index_capacity, h->node_count);
  }
  const std::uint64_t s_lo = h->strings_off;
  const std::uint64_t s_hi = s_lo + h->strings_size;
  const auto* nodes = reinterpret_cast<const Node*>(base + h->nodes_off);
  const auto* slots = reinterpret_cast<const IndexSlot*>(base + h->index_off);

  auto payload_ok = [&](std::uint8_t type, std::uint64_t payload, std::uint32_t self) {
    switch (static_cast<format::Type>(type)) {
      case format::Type::kString:
        return within(format::low32(payload), format::high32(payload), s_lo, s_hi);
      case format::Type::kArray:
      case format::Type::kObject: {
        const std::uint64_t first = format::low32(payload);
        const std::uint64_t count = format::high32(payload);
        return (count == 0 || first > self) && first + count <= h->node_count;
      }
      case format::Type::kBool:
        return payload <= 1;
      default:
        return true;
    }
  };

  if (nodes[0].type != static_cast<std::uint8_t>(format::Type::kObject) || nodes[0].key_len != 0) {
    return refuse(why, Errc::kCorrupt, "root node is not an object");
  }
  // Sum of all containers' child counts: with every node inside its
  // parent's range (below), a sum of node_count - 1 means the ranges are
  // disjoint, so the nodes form one tree and a walk visits each node once.
  std::uint64_t children_total = 0;
  for (std::uint32_t i = 0; i < h->node_count; ++i) {
    const Node& n = nodes[i];
    // The key's NUL terminator is checked too: the C API hands keys out as
    // C strings (shmconf_snapshot_list).
    if (!valid_type(n.type) || !within(n.key_off, std::uint64_t{n.key_len} + 1, s_lo, s_hi) ||
        base[std::uint64_t{n.key_off} + n.key_len] != 0 || n.key_len > format::kMaxKeyLength ||
        n.name_pos > n.key_len || !payload_ok(n.type, n.payload, i)) {
      return refuse(why, Errc::kCorrupt, "node %u malformed", i);
    }
    if (n.type == static_cast<std::uint8_t>(format::Type::kArray) ||
        n.type == static_cast<std::uint8_t>(format::Type::kObject)) {
      children_total += format::high32(n.payload);
    }
    if (i > 0) {
      // A child lies inside its parent's child range, so parent < child and
      // walking children can neither cycle nor leave the table.
      if (n.parent >= i) return refuse(why, Errc::kCorrupt, "node %u: parent after child", i);
      const Node& p = nodes[n.parent];
      const bool container = p.type == static_cast<std::uint8_t>(format::Type::kArray) ||
                             p.type == static_cast<std::uint8_t>(format::Type::kObject);
      const std::uint64_t first = format::low32(p.payload);
      if (!container || i < first || i >= first + format::high32(p.payload)) {
        return refuse(why, Errc::kCorrupt, "node %u outside its parent's children", i);
      }
    }
  }
  if (children_total != h->node_count - 1u) {
    return refuse(why, Errc::kCorrupt, "child ranges overlap (%llu children for %u nodes)",
                  static_cast<unsigned long long>(children_total), h->node_count);
  }
  std::uint64_t used = 0;
  for (std::uint32_t i = 0; i < h->index_capacity; ++i) {
    const IndexSlot& s = slots[i];
    if (s.hash == 0) continue;
    ++used;
    if (s.node == 0 || s.node >= h->node_count) {
      return refuse(why, Errc::kCorrupt, "index slot %u: node out of range", i);
    }
    const Node& n = nodes[s.node];
    if (s.type != n.type || s.payload != n.payload || s.key_off != n.key_off ||
        s.key_len != n.key_len) {
      return refuse(why, Errc::kCorrupt, "index slot %u disagrees with node %u", i, s.node);
    }
  }
  if (used != h->node_count - 1u) {
    return refuse(why, Errc::kCorrupt, "index holds %llu keys for %u nodes",
                  static_cast<unsigned long long>(used), h->node_count);
  }

  // Metadata tables.
  const std::uint64_t m_lo = h->meta_off;
  const std::uint64_t m_hi = m_lo + h->meta_size;
  const auto* meta = reinterpret_cast<const format::MetaHeader*>(base + h->meta_off);
  if (meta->sources_off % 4 || meta->changed_off % 4 ||
      !within(meta->sources_off, std::uint64_t{meta->source_count} * sizeof(format::StrRef), m_lo,
              m_hi) ||
      !within(meta->changed_off, std::uint64_t{meta->changed_count} * sizeof(format::ChangedKey),
              m_lo, m_hi) ||
      !within(meta->trigger_off, meta->trigger_len, s_lo, s_hi)) {
    return refuse(why, Errc::kCorrupt, "metadata outside the segment");
  }
  const auto* sources = reinterpret_cast<const format::StrRef*>(base + meta->sources_off);
  for (std::uint32_t i = 0; i < meta->source_count; ++i) {
    if (!within(sources[i].off, sources[i].len, s_lo, s_hi)) {
      return refuse(why, Errc::kCorrupt, "source %u outside the string pool", i);
    }
  }
  const auto* changed = reinterpret_cast<const format::ChangedKey*>(base + meta->changed_off);
  for (std::uint32_t i = 0; i < meta->changed_count; ++i) {
    if (!within(changed[i].key_off, changed[i].key_len, s_lo, s_hi) || changed[i].kind < 1 ||
        changed[i].kind > 3) {
      return refuse(why, Errc::kCorrupt, "changed key %u malformed", i);
    }
  }

  out->base_ = base;
  out->hdr_ = h;
  out->nodes_ = nodes;
  out->slots_ = slots;
  out->meta_ = meta;
  out->sources_ = sources;
  out->changed_ = changed;
  return Errc::kOk;
}

namespace {

// Linear probing from the hash's home slot. Bounded by the capacity:
// open() proved a free slot exists, but the bound keeps the loop finite
// whatever the slots say.
inline const IndexSlot* probe(const unsigned char* base, const IndexSlot* slots, std::uint32_t cap,
                              std::string_view key, std::uint64_t hash) noexcept {
  std::uint32_t i = format::home_slot(hash, cap);
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  for (std::uint32_t probes = 0; probes < cap; ++probes) {
    const IndexSlot& s = slots[i];
    if (s.hash == hash && s.key_len == key.size() && same_key(base + s.key_off, k, key.size())) {
      return &s;
    }
    if (s.hash == 0) return nullptr;
    if (++i == cap) i = 0;
  }
  return nullptr;
}

}  // namespace

const format::IndexSlot* SegmentView::find(std::string_view key) const noexcept {
  return probe(base_, slots_, hdr_->index_capacity, key, hash_of(key, hdr_->hash_seed));
}

const format::IndexSlot* SegmentView::find(std::string_view key,
                                           std::uint64_t hash) const noexcept {
  return probe(base_, slots_, hdr_->index_capacity, key, hash);
}

std::span<const format::Node> SegmentView::children(const format::Node& n) const noexcept {
  if (n.type != static_cast<std::uint8_t>(format::Type::kArray) &&
      n.type != static_cast<std::uint8_t>(format::Type::kObject)) {
    return {};
  }
  return {nodes_ + format::low32(n.payload), format::high32(n.payload)};
}

std::string_view SegmentView::source_name(std::uint32_t source) const noexcept {
  if (source >= meta_->source_count) return {};
  return str(sources_[source].off, sources_[source].len);
}

}  // namespace shmconf

namespace shmconf {

bool is_leaf(const format::Node& n) noexcept {
  const auto t = static_cast<format::Type>(n.type);
  if (t != format::Type::kArray && t != format::Type::kObject) return true;
  return format::high32(n.payload) == 0;
}

bool same_leaf(const SegmentView& a, const format::Node& x, const SegmentView& b,
               const format::Node& y) noexcept {
  if (x.type != y.type) return false;
  switch (static_cast<format::Type>(x.type)) {
    case format::Type::kString:
      return a.string_value(x.payload) == b.string_value(y.payload);
    case format::Type::kArray:
    case format::Type::kObject:
      return format::high32(x.payload) == format::high32(y.payload);
    default:
      return x.payload == y.payload;
  }
}

std::vector<SegmentChange> diff_segments(const SegmentView& from, const SegmentView& to,
                                         std::string_view prefix) {
  std::vector<SegmentChange> out;
  auto under = [&](std::string_view key) { return key.substr(0, prefix.size()) == prefix; };
  for (std::uint32_t i = 1; i < to.node_count(); ++i) {
    const format::Node& n = to.node(i);
    if (!is_leaf(n) || !under(to.key(n))) continue;
    const format::IndexSlot* s = from.empty() ? nullptr : from.find(to.key(n));
    const format::Node* old =
        (s != nullptr && is_leaf(from.node(s->node))) ? &from.node(s->node) : nullptr;
    if (old == nullptr) {
      out.push_back({to.key(n), format::Change::kAdded, nullptr, &n});
    } else if (!same_leaf(from, *old, to, n)) {
      out.push_back({to.key(n), format::Change::kChanged, old, &n});
    }
  }
  if (!from.empty()) {
    for (std::uint32_t i = 1; i < from.node_count(); ++i) {
      const format::Node& n = from.node(i);
      if (!is_leaf(n) || !under(from.key(n))) continue;
      const format::IndexSlot* s = to.find(from.key(n));
      if (s == nullptr || !is_leaf(to.node(s->node))) {
        out.push_back({from.key(n), format::Change::kRemoved, &n, nullptr});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentChange& x, const SegmentChange& y) { return x.key < y.key; });
  return out;
}

}  // namespace shmconf
