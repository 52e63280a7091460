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

// Every node: a known type, a payload inside the segment, a name where its
// parent is an object (a length-prefixed, NUL-terminated string of the
// pool) and none elsewhere, and a place inside its parent's child range.
// With every node inside its parent's range and parent < child, a sum of
// node_count - 1 children means the ranges are disjoint: the nodes form one
// tree, a walk visits each node once and a walk up the parents ends at the
// root.
Errc check_nodes(const unsigned char* base, const Node* nodes, std::uint32_t count,
                 std::uint64_t s_lo, std::uint64_t s_hi, SegmentError* why) noexcept {
  using format::Type;
  auto container = [](const Node& n) {
    return format::node_type(n) == Type::kArray || format::node_type(n) == Type::kObject;
  };
  const Node& root = nodes[0];
  if (format::node_type(root) != Type::kObject || root.name != 0 || format::node_parent(root)) {
    return refuse(why, Errc::kCorrupt, "root node is not an object");
  }
  std::uint64_t children_total = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const Node& n = nodes[i];
    const std::uint8_t t = format::node_type_bits(n);
    bool ok = valid_type(t);
    if (t == static_cast<std::uint8_t>(Type::kString)) {
      ok = ok &&
           within(format::low32(n.payload), std::uint64_t{format::high32(n.payload)} + 1, s_lo,
                  s_hi) &&
           base[std::uint64_t{format::low32(n.payload)} + format::high32(n.payload)] == 0;
    } else if (t == static_cast<std::uint8_t>(Type::kBool)) {
      ok = ok && n.payload <= 1;
    } else if (container(n)) {
      const std::uint64_t first = format::low32(n.payload);
      const std::uint64_t kids = format::high32(n.payload);
      ok = ok && (kids == 0 || first > i) && first + kids <= count;
      children_total += kids;
    }
    if (!ok) return refuse(why, Errc::kCorrupt, "node %u malformed", i);
    if (i == 0) continue;
    const std::uint32_t parent = format::node_parent(n);
    if (parent >= i) return refuse(why, Errc::kCorrupt, "node %u: parent after child", i);
    const Node& p = nodes[parent];
    const std::uint64_t first = format::low32(p.payload);
    if (!container(p) || i < first || i >= first + format::high32(p.payload)) {
      return refuse(why, Errc::kCorrupt, "node %u outside its parent's children", i);
    }
    if (format::node_type(p) == Type::kArray) {
      if (n.name != 0) return refuse(why, Errc::kCorrupt, "array element %u has a name", i);
      continue;
    }
    std::uint16_t len = 0;
    if (n.name >= s_lo + 2 && n.name < s_hi) std::memcpy(&len, base + n.name - 2, sizeof len);
    if (len == 0 || !within(n.name, std::uint64_t{len} + 1, s_lo, s_hi) ||
        base[std::uint64_t{n.name} + len] != 0) {
      return refuse(why, Errc::kCorrupt, "node %u: name outside the string pool", i);
    }
  }
  if (children_total != count - 1u) {
    return refuse(why, Errc::kCorrupt, "child ranges overlap (%llu children for %u nodes)",
                  static_cast<unsigned long long>(children_total), count);
  }
  return Errc::kOk;
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
  if (h->nodes_off % 8 || h->index_off % 8 || h->meta_off % 8 || h->origins_off % 8) {
    return refuse(why, Errc::kCorrupt, "misaligned section offset");
  }
  if (!within(h->nodes_off, std::uint64_t{h->node_count} * sizeof(Node), hs, end) ||
      !within(h->index_off, std::uint64_t{h->index_capacity} * sizeof(IndexSlot), hs, end) ||
      !within(h->origins_off, std::uint64_t{h->node_count} * sizeof(format::Origin), hs, end) ||
      !within(h->strings_off, h->strings_size, hs, end) ||
      !within(h->meta_off, h->meta_size, hs, end) || h->meta_size < sizeof(format::MetaHeader)) {
    return refuse(why, Errc::kCorrupt, "section outside the segment");
  }
  if (h->node_count == 0 || h->node_count > format::kMaxNodes ||
      h->index_capacity < h->node_count) {
    return refuse(why, Errc::kCorrupt, "index capacity %u too small for %u nodes",
                  h->index_capacity, h->node_count);
  }
  const std::uint64_t s_lo = h->strings_off;
  const std::uint64_t s_hi = s_lo + h->strings_size;
  const auto* nodes = reinterpret_cast<const Node*>(base + h->nodes_off);
  const auto* slots = reinterpret_cast<const IndexSlot*>(base + h->index_off);
  if (const Errc e = check_nodes(base, nodes, h->node_count, s_lo, s_hi, why); e != Errc::kOk) {
    return e;
  }
  std::uint64_t used = 0;
  for (std::uint32_t i = 0; i < h->index_capacity; ++i) {
    const IndexSlot& s = slots[i];
    if (s.empty()) continue;
    ++used;
    if (s.node() == 0 || s.node() >= h->node_count) {
      return refuse(why, Errc::kCorrupt, "index slot %u: node out of range", i);
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
    // NUL-terminated too: the C API hands change keys out as C strings.
    if (!within(changed[i].key_off, std::uint64_t{changed[i].key_len} + 1, s_lo, s_hi) ||
        base[std::uint64_t{changed[i].key_off} + changed[i].key_len] != 0 || changed[i].kind < 1 ||
        changed[i].kind > 3) {
      return refuse(why, Errc::kCorrupt, "changed key %u malformed", i);
    }
  }

  out->base_ = base;
  out->hdr_ = h;
  out->nodes_ = nodes;
  out->slots_ = slots;
  out->origins_ = reinterpret_cast<const format::Origin*>(base + h->origins_off);
  out->meta_ = meta;
  out->sources_ = sources;
  out->changed_ = changed;
  out->size_ = end;
  out->node_count_ = h->node_count;
  out->index_capacity_ = h->index_capacity;
  out->source_count_ = meta->source_count;
  out->changed_count_ = meta->changed_count;
  return Errc::kOk;
}

namespace {

inline std::uint16_t load16(const unsigned char* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// key[b, e) is the canonical decimal spelling of `index` (no sign, no
// leading zero).
inline bool is_index(const char* key, std::size_t b, std::size_t e, std::uint32_t index) noexcept {
  if (b == e || e - b > 10 || (e - b > 1 && key[b] == '0')) return false;
  std::uint64_t v = 0;
  for (std::size_t i = b; i < e; ++i) v = v * 10 + static_cast<unsigned>(key[i] - '0');
  return v == index;
}

}  // namespace

// Does the path of node `i` (< node_count_) spell `key`? Walks from the node
// up to the root, consuming the key from its end: a name (and the '.' before
// it unless the parent is the root), or "[k]" for the k-th element of an
// array. open() proved every parent index smaller than its child's; the walk
// checks it again, and each name's bounds, so bytes changed after open()
// cannot lead it outside the segment or around a loop. Each field is read
// once.
bool SegmentView::matches(std::string_view key, std::uint32_t i) const noexcept {
  const char* k = key.data();
  std::size_t pos = key.size();
  while (i != 0) {
    const Node& n = nodes_[i];
    const std::uint32_t p = format::node_parent(n);
    const std::uint32_t name_off = n.name;
    if (p >= i) return false;
    if (name_off == 0) {
      // An array element (open() proved: no name exactly when the parent is
      // an array), spelled "[k]".
      if (pos < 3 || k[pos - 1] != ']') return false;
      std::size_t b = pos - 1;
      while (b > 0 && k[b - 1] >= '0' && k[b - 1] <= '9') --b;
      if (b == 0 || k[b - 1] != '[' ||
          !is_index(k, b, pos - 1, i - format::low32(nodes_[p].payload))) {
        return false;
      }
      pos = b - 1;
    } else {
      if (name_off < 2 || name_off > size_) return false;
      const std::size_t len = load16(base_ + name_off - 2);
      if (len > pos || len > size_ - name_off ||
          !same_key(base_ + name_off, reinterpret_cast<const unsigned char*>(k + pos - len), len)) {
        return false;
      }
      pos -= len;
      if (p != 0) {
        if (pos == 0 || k[pos - 1] != '.') return false;
        --pos;
      }
    }
    i = p;
  }
  return pos == 0;
}

std::string_view SegmentView::name(const format::Node& n) const noexcept {
  const std::uint32_t off = n.name;
  if (off < 2 || off > size_) return {};  // 0: no name; else changed after open()
  const std::size_t len = load16(base_ + off - 2);
  if (len > size_ - off) return {};
  return {reinterpret_cast<const char*>(base_) + off, len};
}

std::size_t SegmentView::key_to(const format::Node& n, char* buf, std::size_t cap) const noexcept {
  // First the length, then the bytes from the end backwards. Each step goes
  // to a strictly smaller index (a parent that is not smaller, possible only
  // if the segment changed after open(), ends the walk), so both walks end;
  // the second checks every piece against the room left, since the bytes
  // may differ from the first.
  auto parent = [&](std::uint32_t i) -> std::uint32_t {
    const std::uint32_t p = format::node_parent(nodes_[i]);
    return p < i ? p : 0;
  };
  auto in_array = [&](std::uint32_t i, std::uint32_t p, std::uint32_t* k) {
    const Node& pn = nodes_[p];
    *k = i - format::low32(pn.payload);
    return format::node_type(pn) == format::Type::kArray;
  };
  auto step_len = [&](std::uint32_t i) -> std::size_t {
    const std::uint32_t p = parent(i);
    std::uint32_t k;
    if (in_array(i, p, &k)) {
      std::size_t digits = 1;
      while (k >= 10) k /= 10, ++digits;
      return digits + 2;
    }
    return name(nodes_[i]).size() + (p != 0 ? 1 : 0);
  };
  std::size_t total = 0;
  for (std::uint32_t i = index_of(n); i != 0; i = parent(i)) total += step_len(i);
  if (total > cap) return total;
  std::size_t pos = total;
  for (std::uint32_t i = index_of(n); i != 0; i = parent(i)) {
    const std::uint32_t p = parent(i);
    std::uint32_t k;
    if (in_array(i, p, &k)) {
      std::size_t digits = 1;
      for (std::uint32_t x = k; x >= 10; x /= 10) ++digits;
      if (digits + 2 > pos) return total;  // changed since the first walk
      buf[--pos] = ']';
      do {
        buf[--pos] = static_cast<char>('0' + k % 10);
        k /= 10;
      } while (k != 0);
      buf[--pos] = '[';
    } else {
      const std::string_view nm = name(nodes_[i]);
      if (nm.size() + (p != 0 ? 1 : 0) > pos) return total;  // changed since the first walk
      pos -= nm.size();
      if (!nm.empty()) std::memcpy(buf + pos, nm.data(), nm.size());
      if (p != 0) buf[--pos] = '.';
    }
  }
  return total;
}

std::string SegmentView::key(const format::Node& n) const {
  std::string out(format::kMaxKeyLength, '\0');
  std::size_t len = key_to(n, out.data(), out.size());
  if (len > out.size()) {
    out.resize(len);
    len = key_to(n, out.data(), out.size());
  }
  out.resize(len);
  return out;
}

namespace {

// Linear probing from the hash's home slot; returns the matching slot's node
// index, 0 for none. Bounded by the capacity: open() proved a free slot
// exists, but the bound keeps the loop finite whatever the slots say. The
// node index is read once, so what was matched is what is returned.
template <class Match>
inline std::uint32_t probe(const IndexSlot* slots, std::uint32_t cap, std::uint64_t hash,
                           Match match) noexcept {
  std::uint32_t i = format::home_slot(hash, cap);
  const std::uint32_t tag = format::slot_tag(hash);
  for (std::uint32_t probes = 0; probes < cap; ++probes) {
    const IndexSlot s = slots[i];  // one load: what is matched is what is returned
    if (s.empty()) return 0;
    if (s.tag() == tag) {
      const std::uint32_t node = s.node();
      if (match(node)) return node;
    }
    if (++i == cap) i = 0;
  }
  return 0;
}

}  // namespace

const format::Node* SegmentView::find(std::string_view key) const noexcept {
  return find(key, hash_of(key, hdr_->hash_seed));
}

const format::Node* SegmentView::find(std::string_view key, std::uint64_t hash) const noexcept {
  // node < node_count_: open() proved it of every slot; checked again in
  // case the slot changed since.
  const std::uint32_t i = probe(slots_, index_capacity_, hash, [&](std::uint32_t node) {
    return node != 0 && node < node_count_ && matches(key, node);
  });
  return i == 0 ? nullptr : &nodes_[i];
}

std::span<const format::Node> SegmentView::children(const format::Node& n) const noexcept {
  const std::uint64_t payload = n.payload;
  const format::Type t = format::node_type(n);
  if (t != format::Type::kArray && t != format::Type::kObject) return {};
  // open() proved the range lies after the node and inside the table; a
  // walk down then always reaches higher indices and ends.
  const std::uint32_t first = format::low32(payload), count = format::high32(payload);
  if (count == 0 || first <= index_of(n) || first > node_count_ || count > node_count_ - first) {
    return {};
  }
  return {nodes_ + first, count};
}

std::string_view SegmentView::source_name(std::uint32_t source) const noexcept {
  if (source >= source_count_) return {};
  return str(sources_[source].off, sources_[source].len);
}

}  // namespace shmconf
