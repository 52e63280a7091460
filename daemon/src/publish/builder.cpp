#include "publish/builder.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_set>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shmconf::daemon {
namespace {

constexpr std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t{7}; }

std::uint64_t scalar_payload(const Value& v) {
  switch (v.type) {
    case Type::kBool:
      return v.b ? 1 : 0;
    case Type::kInt:
      return static_cast<std::uint64_t>(v.i);
    case Type::kDouble:
      return std::bit_cast<std::uint64_t>(v.d);
    default:
      return 0;
  }
}

bool value_is_leaf(const Value& v) {
  if (v.type == Type::kArray) return v.items.empty();
  if (v.type == Type::kObject) return v.fields.empty();
  return true;
}

// A new leaf equals an old one: same type and value (FORMAT.md "Changes").
bool same_as(const Value& v, const SegmentView& prev, const format::Node& n) {
  if (static_cast<Type>(n.type) != v.type) return false;
  switch (v.type) {
    case Type::kString:
      return prev.string_value(n.payload) == v.s;
    case Type::kArray:
    case Type::kObject:
      return format::high32(n.payload) == 0;  // both empty
    default:
      return n.payload == scalar_payload(v);
  }
}

class Writer {
 public:
  explicit Writer(std::span<std::byte> dst) : base_(dst.data()) {}
  template <class T>
  T* at(std::uint64_t off) const {
    return reinterpret_cast<T*>(base_ + off);
  }
  // Appends s and a NUL to the string pool; returns its offset.
  std::uint32_t add_string(std::string_view s) {
    const std::uint32_t off = cursor_;
    std::memcpy(base_ + cursor_, s.data(), s.size());
    base_[cursor_ + s.size()] = std::byte{0};
    cursor_ += static_cast<std::uint32_t>(s.size() + 1);
    return off;
  }
  void set_cursor(std::uint32_t c) { cursor_ = c; }
  std::uint32_t cursor() const { return cursor_; }

 private:
  std::byte* base_;
  std::uint32_t cursor_ = 0;
};

}  // namespace

SnapshotBuilder::SnapshotBuilder(const BuildInput& in) : in_(in) {
  if (in_.root == nullptr || in_.root->type != Type::kObject) {
    throw ConfigError("", 0, 0, "", "the root of the configuration must be a mapping");
  }
  flatten();
  if (in_.previous != nullptr && !in_.previous->empty()) {
    diff_against(*in_.previous);
  } else {
    for (const Flat& f : flat_) {
      if (&f != &flat_[0] && value_is_leaf(*f.value)) {
        changes_.push_back({f.path, format::Change::kAdded});
      }
    }
    // flat_ is breadth-first; the change list is sorted by key (FORMAT.md).
    std::sort(changes_.begin(), changes_.end(),
              [](const KeyChange& a, const KeyChange& b) { return a.key < b.key; });
  }

  const std::uint64_t n = flat_.size();
  const std::uint64_t keys = n - 1;
  // Load factor at most 0.7 with linear probing; at least one empty slot.
  std::uint64_t cap = keys + keys * 3 / 7 + 1;
  if (cap < n) cap = n;

  std::uint64_t strings = 0;
  for (const Flat& f : flat_) {
    strings += f.path.size() + 1;
    if (f.value->type == Type::kString) strings += f.value->s.size() + 1;
  }
  const SourceList empty_sources;
  const SourceList& sources = in_.sources ? *in_.sources : empty_sources;
  for (const std::string& s : sources) strings += s.size() + 1;
  for (const KeyChange& c : changes_) strings += c.key.size() + 1;
  strings += in_.trigger.size() + 1;

  const std::uint64_t meta = sizeof(format::MetaHeader) + sources.size() * sizeof(format::StrRef) +
                             changes_.size() * sizeof(format::ChangedKey);
  std::uint64_t off = sizeof(format::SegmentHeader);
  const std::uint64_t nodes_off = off;
  off += n * sizeof(format::Node);
  const std::uint64_t index_off = align8(off);
  off = index_off + cap * sizeof(format::IndexSlot);
  const std::uint64_t meta_off = align8(off);
  off = meta_off + align8(meta);
  const std::uint64_t strings_off = off;
  off += align8(strings);
  if (off > format::kMaxSegmentSize || cap > 0xFFFFFFFFull) {
    throw ConfigError("", 0, 0, "", "configuration too large for one segment (4 GiB)");
  }
  capacity_ = static_cast<std::uint32_t>(cap);
  nodes_off_ = static_cast<std::uint32_t>(nodes_off);
  index_off_ = static_cast<std::uint32_t>(index_off);
  meta_off_ = static_cast<std::uint32_t>(meta_off);
  meta_size_ = static_cast<std::uint32_t>(align8(meta));
  strings_off_ = static_cast<std::uint32_t>(strings_off);
  strings_size_ = static_cast<std::uint32_t>(align8(strings));
  size_ = off;
}

void SnapshotBuilder::flatten() {
  // Breadth-first, so each container's children are contiguous and after it.
  flat_.push_back({in_.root, "", 0, 0, 0});
  for (std::size_t i = 0; i < flat_.size(); ++i) {
    const Value* v = flat_[i].value;
    const auto self = static_cast<std::uint32_t>(i);
    flat_[i].first_child = static_cast<std::uint32_t>(flat_.size());
    if (v->type == Type::kObject) {
      for (const auto& [name, child] : v->fields) {
        std::string path = flat_[i].path;
        if (!path.empty()) path += '.';
        const auto name_pos = static_cast<std::uint32_t>(path.size());
        path += name;
        flat_.push_back({&child, std::move(path), name_pos, self, 0});
      }
    } else if (v->type == Type::kArray) {
      for (std::size_t k = 0; k < v->items.size(); ++k) {
        std::string path = flat_[i].path;
        const auto name_pos = static_cast<std::uint32_t>(path.size());
        path += '[';
        path += std::to_string(k);
        path += ']';
        flat_.push_back({&v->items[k], std::move(path), name_pos, self, 0});
      }
    }
    if (flat_.size() > 0xFFFFFFF0u) {
      throw ConfigError("", 0, 0, "", "configuration has too many values for one segment");
    }
  }
  for (const Flat& f : flat_) {
    if (f.path.size() > format::kMaxKeyLength) {
      throw ConfigError("", f.value->origin.line, f.value->origin.column, f.path.substr(0, 64),
                        "key path longer than " + std::to_string(format::kMaxKeyLength) + " bytes");
    }
  }
}

void SnapshotBuilder::diff_against(const SegmentView& prev) {
  std::unordered_set<std::string_view> leaves;
  for (std::size_t i = 1; i < flat_.size(); ++i) {
    const Flat& f = flat_[i];
    if (!value_is_leaf(*f.value)) continue;
    leaves.insert(f.path);
    const format::IndexSlot* s = prev.find(f.path);
    const format::Node* old =
        (s != nullptr && is_leaf(prev.node(s->node))) ? &prev.node(s->node) : nullptr;
    if (old == nullptr) {
      changes_.push_back({f.path, format::Change::kAdded});
    } else if (!same_as(*f.value, prev, *old)) {
      changes_.push_back({f.path, format::Change::kChanged});
    }
  }
  for (std::uint32_t i = 1; i < prev.node_count(); ++i) {
    const format::Node& n = prev.node(i);
    if (is_leaf(n) && !leaves.contains(prev.key(n))) {
      changes_.push_back({std::string(prev.key(n)), format::Change::kRemoved});
    }
  }
  std::sort(changes_.begin(), changes_.end(),
            [](const KeyChange& a, const KeyChange& b) { return a.key < b.key; });
}

void SnapshotBuilder::write(std::span<std::byte> dst) const {
  std::memset(dst.data(), 0, size_);
  Writer w(dst);
  auto* h = w.at<format::SegmentHeader>(0);
  h->magic = format::kSegmentMagic;
  h->format_version = format::kFormatVersion;
  h->layout_signature = format::kLayoutSignature;
  h->header_size = sizeof(format::SegmentHeader);
  h->segment_size = size_;
  h->version = in_.version;
  h->publish_time_ns = in_.publish_time_ns;
  h->content_hash = in_.content_hash;
  h->node_count = static_cast<std::uint32_t>(flat_.size());
  h->index_capacity = capacity_;
  h->nodes_off = nodes_off_;
  h->index_off = index_off_;
  h->strings_off = strings_off_;
  h->strings_size = strings_size_;
  h->meta_off = meta_off_;
  h->meta_size = meta_size_;
  h->hash_seed = 0;
  h->prev_version =
      (in_.previous != nullptr && !in_.previous->empty()) ? in_.previous->version() : 0;

  w.set_cursor(strings_off_);
  auto* nodes = w.at<format::Node>(nodes_off_);
  auto* slots = w.at<format::IndexSlot>(index_off_);
  for (std::size_t i = 0; i < flat_.size(); ++i) {
    const Flat& f = flat_[i];
    const Value& v = *f.value;
    format::Node& n = nodes[i];
    n.key_len = static_cast<std::uint32_t>(f.path.size());
    n.key_off = w.add_string(f.path);
    n.name_pos = f.name_pos;
    n.parent = f.parent;
    n.type = static_cast<std::uint8_t>(v.type);
    n.flags = (in_.sensitive != nullptr && i != 0 && in_.sensitive->count(f.path) != 0)
                  ? format::kNodeSensitive
                  : 0;
    n.source = v.origin.source;
    n.line = v.origin.line;
    n.column = v.origin.column;
    switch (v.type) {
      case Type::kString: {
        const auto len = static_cast<std::uint32_t>(v.s.size());
        n.payload = format::pack(w.add_string(v.s), len);
        break;
      }
      case Type::kArray:
        n.payload = format::pack(v.items.empty() ? 0 : f.first_child,
                                 static_cast<std::uint32_t>(v.items.size()));
        break;
      case Type::kObject:
        n.payload = format::pack(v.fields.empty() ? 0 : f.first_child,
                                 static_cast<std::uint32_t>(v.fields.size()));
        break;
      default:
        n.payload = scalar_payload(v);
    }
    if (i == 0) continue;
    const std::uint64_t hash = key_hash(f.path, 0);
    std::uint32_t s = format::home_slot(hash, capacity_);
    while (slots[s].hash != 0) s = (s + 1 == capacity_) ? 0 : s + 1;
    slots[s].hash = hash;
    slots[s].key_off = n.key_off;
    slots[s].key_len = n.key_len;
    slots[s].node = static_cast<std::uint32_t>(i);
    slots[s].type = n.type;
    slots[s].payload = n.payload;
  }

  auto* meta = w.at<format::MetaHeader>(meta_off_);
  const SourceList empty_sources;
  const SourceList& sources = in_.sources ? *in_.sources : empty_sources;
  meta->source_count = static_cast<std::uint32_t>(sources.size());
  meta->sources_off = meta_off_ + sizeof(format::MetaHeader);
  meta->changed_count = static_cast<std::uint32_t>(changes_.size());
  meta->changed_off =
      meta->sources_off + static_cast<std::uint32_t>(sources.size() * sizeof(format::StrRef));
  auto* refs = w.at<format::StrRef>(meta->sources_off);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    refs[i].len = static_cast<std::uint32_t>(sources[i].size());
    refs[i].off = w.add_string(sources[i]);
  }
  auto* changed = w.at<format::ChangedKey>(meta->changed_off);
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    changed[i].key_len = static_cast<std::uint32_t>(changes_[i].key.size());
    changed[i].key_off = w.add_string(changes_[i].key);
    changed[i].kind = static_cast<std::uint32_t>(changes_[i].kind);
  }
  meta->trigger_len = static_cast<std::uint32_t>(in_.trigger.size());
  meta->trigger_off = w.add_string(in_.trigger);

  // Last: the checksum covers everything after it.
  h->checksum =
      XXH3_64bits(reinterpret_cast<const unsigned char*>(dst.data()) + format::kChecksumFrom,
                  size_ - format::kChecksumFrom);
}

std::vector<std::byte> build_segment(const BuildInput& in) {
  SnapshotBuilder b(in);
  // 8-byte aligned storage, as SegmentView::open requires.
  std::vector<std::byte> out(b.size());
  b.write(out);
  return out;
}

}  // namespace shmconf::daemon
