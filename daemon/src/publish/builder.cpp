// daemon/src/publish/builder.cpp — SnapshotBuilder: the layout pass (node
// blocks, interned strings, path hashes) and write() into the segment; the
// change list against the live version is in builder_diff.cpp.
#include "publish/builder.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>

#include "publish/builder_internal.hpp"
#include "validate/validate.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shmconf::daemon {
namespace {

using builder_detail::append_step;
using builder_detail::child_count;
using builder_detail::scalar_payload;

constexpr std::uint32_t kNone = 0xFFFFFFFFu;
// Strings up to this length are interned; longer ones are rarely repeated.
constexpr std::size_t kInternMax = 256;

constexpr std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t{7}; }

format::Origin origin_of(const Value& v) {
  format::Origin o;
  o.line = v.origin.line;
  o.column = static_cast<std::uint16_t>(std::min<std::uint32_t>(v.origin.column, 0xFFFF));
  o.source = v.origin.source >= format::kNoSource ? format::kNoSource
                                                  : static_cast<std::uint16_t>(v.origin.source);
  return o;
}

// Runs `work` on a thread of its own when asked to and a thread is to be
// had; join() waits for it and rethrows what it threw. The destructor joins
// too, so an exception on the caller's side never leaves it running.
class Beside {
 public:
  template <typename F>
  Beside(bool wanted, F work) {
    if (!wanted) return;
    try {
      thread_ = std::thread([this, work] {
        try {
          work();
        } catch (...) {
          error_ = std::current_exception();
        }
      });
    } catch (const std::system_error&) {
      // No thread: started() is false and the caller does the work itself.
    }
  }
  ~Beside() {
    if (thread_.joinable()) thread_.join();
  }
  Beside(const Beside&) = delete;
  Beside& operator=(const Beside&) = delete;
  bool started() const { return thread_.joinable(); }
  void join() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::thread thread_;
  std::exception_ptr error_;
};

// Live versions with more nodes than this are diffed on a second thread:
// below it a thread costs more than the walk.
constexpr std::uint32_t kDiffBesideAbove = 4096;

[[noreturn]] void too_large() {
  throw ConfigError("", 0, 0, "", "configuration too large for one segment (4 GiB)");
}

}  // namespace

namespace {
// At most two spare scratches per thread: a reload builds the published
// segment and, with substituted secrets, its template beside it.
constexpr std::size_t kSpareScratches = 2;
}  // namespace

std::vector<std::unique_ptr<SnapshotBuilder::Scratch>>& SnapshotBuilder::spare_scratches() {
  thread_local std::vector<std::unique_ptr<Scratch>> spares;
  return spares;
}

std::unique_ptr<SnapshotBuilder::Scratch> SnapshotBuilder::take_scratch() {
  auto& spares = spare_scratches();
  if (spares.empty()) return std::make_unique<Scratch>();
  auto s = std::move(spares.back());
  spares.pop_back();
  return s;
}

SnapshotBuilder::~SnapshotBuilder() {
  auto& spares = spare_scratches();
  if (spares.size() >= kSpareScratches) return;
  items_.clear();
  pool_.clear();
  // Only the slots this build used: the table keeps the size the largest
  // build on this thread gave it, and a small namespace's reload after a
  // large one's must not pay for clearing all of it.
  for (const std::uint32_t i : interned_at_) interned_[i] = InternSlot{};
  interned_at_.clear();
  spares.push_back(std::move(scratch_));
}

SnapshotBuilder::SnapshotBuilder(const BuildInput& in) : in_(in) {
  if (in_.root == nullptr || in_.root->type != Type::kObject) {
    throw ConfigError("", 0, 0, "", "the root of the configuration must be a mapping");
  }
  if (interned_.size() < 1024) interned_.resize(1024);
  items_.push_back({in_.root,
                    {},
                    0,
                    0,
                    kNone,
                    format::node_bits(Type::kObject, false, 0),
                    origin_of(*in_.root)});
  std::string path;
  path.reserve(format::kMaxKeyLength + 64);
  {
    // The change list needs only the tree and the live segment, not the
    // layout: against a large live version it is worked out on a second
    // core while this one lays the tree out.
    const bool diff = in_.previous != nullptr && !in_.previous->empty();
    Beside differ(diff && in_.previous->node_count() > kDiffBesideAbove,
                  [this] { diff_against(*in_.previous); });
    if (diff && !differ.started()) diff_against(*in_.previous);
    lay_out(0, path, 0, {});
    differ.join();
  }

  const std::uint64_t n = items_.size();
  const std::uint64_t keys = n - 1;
  // Load factor at most 0.8 with linear probing; at least one empty slot.
  std::uint64_t cap = keys + keys / 4 + 1;
  if (cap < n) cap = n;

  std::uint64_t strings = pool_.size();
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
  const std::uint64_t origins_off = off;
  off += n * sizeof(format::Origin);
  const std::uint64_t index_off = off;
  off = index_off + align8(cap * sizeof(format::IndexSlot));
  const std::uint64_t meta_off = off;
  off = meta_off + align8(meta);
  const std::uint64_t strings_off = off;
  off += align8(strings);
  if (off > format::kMaxSegmentSize || cap > 0xFFFFFFFFull) too_large();
  capacity_ = static_cast<std::uint32_t>(cap);
  nodes_off_ = static_cast<std::uint32_t>(nodes_off);
  origins_off_ = static_cast<std::uint32_t>(origins_off);
  index_off_ = static_cast<std::uint32_t>(index_off);
  meta_off_ = static_cast<std::uint32_t>(meta_off);
  meta_size_ = static_cast<std::uint32_t>(align8(meta));
  strings_off_ = static_cast<std::uint32_t>(strings_off);
  strings_size_ = static_cast<std::uint32_t>(align8(strings));
  size_ = off;
}

std::uint32_t SnapshotBuilder::intern(std::string_view s, bool name) {
  const auto len = static_cast<std::uint32_t>(s.size());  // <= kMaxSegmentSize
  auto place = [&]() {
    if (pool_.size() + s.size() + 3 > format::kMaxSegmentSize) too_large();
    if (name) {
      const auto prefix = static_cast<std::uint16_t>(s.size());
      pool_.append(reinterpret_cast<const char*>(&prefix), sizeof prefix);
    }
    const auto off = static_cast<std::uint32_t>(pool_.size());
    pool_.append(s);
    pool_.push_back('\0');
    return off;
  };
  if (s.size() > kInternMax) return place();
  const std::uint32_t kind = len | (name ? kNameBit : 0);
  const std::uint64_t h = XXH3_64bits(s.data(), s.size()) | 1;
  std::size_t mask = interned_.size() - 1;
  std::size_t i = h & mask;
  for (; interned_[i].hash != 0; i = (i + 1) & mask) {
    const InternSlot& e = interned_[i];
    if (e.hash == h && e.kind == kind && std::memcmp(pool_.data() + e.off, s.data(), len) == 0) {
      return e.off;
    }
  }
  const std::uint32_t off = place();
  interned_[i] = {h, off, kind};
  interned_at_.push_back(static_cast<std::uint32_t>(i));
  if (++interned_count_ * 2 > interned_.size()) {
    // Grow at half load; entries keep their offsets. interned_at_ lists
    // every slot in use, so only those are read.
    std::vector<InternSlot> old(interned_.size() * 2);
    old.swap(interned_);
    mask = interned_.size() - 1;
    for (std::uint32_t& at : interned_at_) {
      const InternSlot& e = old[at];
      std::size_t j = e.hash & mask;
      while (interned_[j].hash != 0) j = (j + 1) & mask;
      interned_[j] = e;
      at = static_cast<std::uint32_t>(j);
    }
  }
  return off;
}

std::uint64_t SnapshotBuilder::leaf_payload(const Value& v) {
  if (v.type != Type::kString) return scalar_payload(v);  // 0 for an empty container
  return format::pack(intern(v.s, false), static_cast<std::uint32_t>(v.s.size()));
}

bool SnapshotBuilder::sensitive_by_rule(const std::string& path, std::string_view rule_name) const {
  if (in_.keys == nullptr || rule_name.empty()) return false;
  if (is_sensitive_name(rule_name)) return true;
  if (!in_.keys->uses_patterns()) return false;
  // The schema's patterns generalise indices: "servers[2].token" is
  // "servers[].token".
  std::string pattern;
  pattern.reserve(path.size());
  bool in_index = false;
  for (const char c : path) {
    if (in_index && c != ']') continue;
    in_index = c == '[';
    pattern += c;
  }
  return in_.keys->is_sensitive(pattern, rule_name);
}

void SnapshotBuilder::lay_out(std::uint32_t i, std::string& path, unsigned depth,
                              std::string_view rule_name) {
  const Value& v = *items_[i].value;
  const std::size_t count = child_count(v);
  if (count == 0) {
    items_[i].payload = leaf_payload(v);
    return;
  }
  if (depth >= format::kMaxDepth) {
    throw ConfigError("", v.origin.line, v.origin.column, path.substr(0, 64),
                      "nesting deeper than " + std::to_string(format::kMaxDepth) + " levels");
  }
  if (items_.size() + count > format::kMaxNodes) too_large();
  const auto first = static_cast<std::uint32_t>(items_.size());
  items_[i].payload = format::pack(first, static_cast<std::uint32_t>(count));
  const bool array = v.type == Type::kArray;
  const bool sensitive_parent = format::node_sensitive(format::Node{0, 0, items_[i].bits});
  const bool check_sensitive = in_.sensitive != nullptr && !in_.sensitive->empty();
  const std::size_t keep = path.size();
  // The block first, so every child of `i` is contiguous; then each child's
  // own subtree, depth first.
  std::size_t k = 0;
  auto add = [&](const Value& c, std::string_view name) {
    append_step(path, array, name, k++);
    if (path.size() > format::kMaxKeyLength) {
      throw ConfigError("", c.origin.line, c.origin.column, path.substr(0, 64),
                        "key path longer than " + std::to_string(format::kMaxKeyLength) + " bytes");
    }
    if (name.size() > format::kMaxNameLength) {
      throw ConfigError("", c.origin.line, c.origin.column, path.substr(0, 64), "key too long");
    }
    // The parsers refuse these already; a tree built another way must not
    // make two nodes spell one path (FORMAT.md "Key paths").
    if (!array && (name.empty() || find_path_separator(name) != std::string_view::npos)) {
      throw ConfigError("", c.origin.line, c.origin.column, path.substr(0, 64),
                        "key names must be non-empty and free of '.', '[' and ']'");
    }
    const bool sensitive = sensitive_parent ||
                           (check_sensitive && in_.sensitive->count(path) != 0) ||
                           sensitive_by_rule(path, array ? rule_name : name);
    if (sensitive && c.type == Type::kString && in_.sensitive_strings != nullptr) {
      in_.sensitive_strings->push_back({&c, path});
    }
    items_.push_back({&c, name, 0, key_hash(path, 0), array ? kNone : intern(name, true),
                      format::node_bits(c.type, sensitive, i), origin_of(c)});
    path.resize(keep);
  };
  if (array) {
    for (const Value& c : v.items) add(c, {});
  } else {
    for (const auto& [name, c] : v.fields) add(c, name);
  }
  // items_ may have grown (moved): index it, never hold a reference. A leaf
  // needs no path: its payload is set here, in the same order as a
  // container's subtree (the pool's layout does not depend on the shape).
  for (std::uint32_t j = 0; j < count; ++j) {
    const Value& c = *items_[first + j].value;
    if (child_count(c) == 0) {
      items_[first + j].payload = leaf_payload(c);
      continue;
    }
    append_step(path, array, items_[first + j].name_text, j);
    lay_out(first + j, path, depth + 1, array ? rule_name : items_[first + j].name_text);
    path.resize(keep);
  }
}

void SnapshotBuilder::write(std::span<std::byte> dst, bool zeroed) const {
  if (!zeroed) std::memset(dst.data(), 0, size_);
  auto* base = reinterpret_cast<unsigned char*>(dst.data());
  auto* h = reinterpret_cast<format::SegmentHeader*>(base);
  h->magic = format::kSegmentMagic;
  h->format_version = format::kFormatVersion;
  h->layout_signature = format::kLayoutSignature;
  h->header_size = sizeof(format::SegmentHeader);
  h->segment_size = size_;
  h->version = in_.version;
  h->publish_time_ns = in_.publish_time_ns;
  h->content_hash = in_.content_hash;
  h->node_count = static_cast<std::uint32_t>(items_.size());
  h->index_capacity = capacity_;
  h->nodes_off = nodes_off_;
  h->origins_off = origins_off_;
  h->index_off = index_off_;
  h->strings_off = strings_off_;
  h->strings_size = strings_size_;
  h->meta_off = meta_off_;
  h->meta_size = meta_size_;
  h->hash_seed = 0;
  h->prev_version =
      (in_.previous != nullptr && !in_.previous->empty()) ? in_.previous->version() : 0;

  // The pool, as the layout built it.
  std::memcpy(base + strings_off_, pool_.data(), pool_.size());
  std::uint64_t cur = strings_off_ + pool_.size();
  auto add_string = [&](std::string_view s) {
    const auto off = static_cast<std::uint32_t>(cur);
    std::memcpy(base + cur, s.data(), s.size());
    cur += s.size() + 1;
    return off;
  };

  auto* nodes = reinterpret_cast<format::Node*>(base + nodes_off_);
  auto* origins = reinterpret_cast<format::Origin*>(base + origins_off_);
  auto* slots = reinterpret_cast<format::IndexSlot*>(base + index_off_);
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const Item& it = items_[i];
    format::Node& n = nodes[i];
    n.payload = it.payload;
    if (format::node_type(format::Node{0, 0, it.bits}) == Type::kString) {
      n.payload += strings_off_;  // the low 32 bits: pool-relative until now
    }
    n.name = it.name == kNone ? 0 : strings_off_ + it.name;
    n.bits = it.bits;
    origins[i] = it.origin;
    if (i == 0) continue;
    std::uint32_t s = format::home_slot(it.hash, capacity_);
    while (!slots[s].empty()) s = (s + 1 == capacity_) ? 0 : s + 1;
    slots[s] = format::make_slot(static_cast<std::uint32_t>(i), format::slot_tag(it.hash));
  }

  auto* meta = reinterpret_cast<format::MetaHeader*>(base + meta_off_);
  const SourceList empty_sources;
  const SourceList& sources = in_.sources ? *in_.sources : empty_sources;
  meta->source_count = static_cast<std::uint32_t>(sources.size());
  meta->sources_off = meta_off_ + sizeof(format::MetaHeader);
  meta->changed_count = static_cast<std::uint32_t>(changes_.size());
  meta->changed_off =
      meta->sources_off + static_cast<std::uint32_t>(sources.size() * sizeof(format::StrRef));
  auto* refs = reinterpret_cast<format::StrRef*>(base + meta->sources_off);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    refs[i].len = static_cast<std::uint32_t>(sources[i].size());
    refs[i].off = add_string(sources[i]);
  }
  auto* changed = reinterpret_cast<format::ChangedKey*>(base + meta->changed_off);
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    changed[i].key_len = static_cast<std::uint32_t>(changes_[i].key.size());
    changed[i].key_off = add_string(changes_[i].key);
    changed[i].kind = static_cast<std::uint32_t>(changes_[i].kind);
  }
  meta->trigger_len = static_cast<std::uint32_t>(in_.trigger.size());
  meta->trigger_off = add_string(in_.trigger);

  // Last: the checksum covers everything after it.
  h->checksum = XXH3_64bits(base + format::kChecksumFrom, size_ - format::kChecksumFrom);
}

std::vector<std::byte> build_segment(const BuildInput& in) {
  SnapshotBuilder b(in);
  // 8-byte aligned storage, as SegmentView::open requires.
  std::vector<std::byte> out(b.size());
  b.write(out);
  return out;
}

}  // namespace shmconf::daemon
