// Feature-flag evaluation (shmconf/flags.hpp, docs/FLAGS.md): one lookup of
// "flags.NAME" in a pinned segment, its members, one hash. No allocation.
#include "shmconf/flags.hpp"

#include <cmath>
#include <cstring>

#include "shmconf/segment.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace shmconf {

namespace {

using format::Type;

constexpr std::string_view kFlagsPrefix = "flags.";

// percent (int or double) -> basis points, rounded half up, clamped.
bool threshold_of(const format::Node& n, std::uint32_t* out) noexcept {
  if (format::node_type(n) == Type::kInt) {
    const auto p = static_cast<std::int64_t>(n.payload);
    if (p < 0 || p > 100) return false;
    *out = static_cast<std::uint32_t>(p * 100);
    return true;
  }
  if (format::node_type(n) != Type::kDouble) return false;
  const double p = __builtin_bit_cast(double, n.payload);
  if (!(p >= 0.0) || p > 100.0) return false;
  *out = static_cast<std::uint32_t>(std::floor(p * 100.0 + 0.5));
  if (*out > kFlagBuckets) *out = kFlagBuckets;
  return true;
}

// The segment's nodes and strings are read through SegmentView's inline
// accessors only: this file's calls to the library's exported functions go
// through the PLT, so the walk below makes one (find) and inlines the rest.

// An object member's name (validated by SegmentView::open: in the pool,
// length in the two bytes before it).
std::string_view member_name(const SegmentView& view, const format::Node& n) noexcept {
  const std::string_view len_bytes = view.str(n.name - 2, 2);
  const auto len = static_cast<std::uint32_t>(static_cast<unsigned char>(len_bytes[0]) |
                                              static_cast<unsigned char>(len_bytes[1]) << 8);
  return view.str(n.name, len);
}

// Whether the array `list` (nullptr = none) holds the string `subject`.
bool listed(const SegmentView& view, const format::Node* list, std::string_view subject) noexcept {
  if (list == nullptr) return false;
  const std::uint32_t first = format::low32(list->payload);
  const std::uint32_t count = format::high32(list->payload);
  for (std::uint32_t i = first; i < first + count; ++i) {
    const format::Node& item = view.node(i);
    // The length (high 32 bits of the payload) first: most items differ there.
    if (format::high32(item.payload) == subject.size() &&
        format::node_type(item) == Type::kString && view.string_value(item.payload) == subject) {
      return true;
    }
  }
  return false;
}

}  // namespace

namespace {

// The key path "flags.NAME" in `buf` (kFlagsPrefix.size() + kMaxFlagName
// bytes); its length.
std::size_t flag_key(std::string_view name, char* buf) noexcept {
  std::memcpy(buf, kFlagsPrefix.data(), kFlagsPrefix.size());
  std::memcpy(buf + kFlagsPrefix.size(), name.data(), name.size());
  return kFlagsPrefix.size() + name.size();
}

// XXH3-64 of the path, seed 0, 0 read as 1: FORMAT.md's key_hash.
std::uint64_t path_hash(const char* path, std::size_t len) noexcept {
  const std::uint64_t h = XXH3_64bits(path, len);
  return h == 0 ? 1 : h;
}

std::uint32_t bucket_of(std::uint64_t path_hash, std::string_view subject) noexcept {
  return static_cast<std::uint32_t>(
      XXH3_64bits_withSeed(subject.data(), subject.size(), path_hash) % kFlagBuckets);
}

}  // namespace

std::uint32_t flag_bucket(std::string_view name, std::string_view subject) noexcept {
  if (name.size() <= kMaxFlagName) {
    char key[kFlagsPrefix.size() + kMaxFlagName];
    const std::size_t len = flag_key(name, key);
    return bucket_of(path_hash(key, len), subject);
  }
  // A name no flag can have (the daemon refuses it), still well defined:
  // the same hash, streamed.
  XXH3_state_t st;
  XXH3_INITSTATE(&st);
  (void)XXH3_64bits_reset(&st);
  (void)XXH3_64bits_update(&st, kFlagsPrefix.data(), kFlagsPrefix.size());
  (void)XXH3_64bits_update(&st, name.data(), name.size());
  const std::uint64_t h = XXH3_64bits_digest(&st);
  return bucket_of(h == 0 ? 1 : h, subject);
}

const char* to_string(FlagReason r) noexcept {
  switch (r) {
    case FlagReason::kDisabled:
      return "disabled";
    case FlagReason::kDenied:
      return "denied";
    case FlagReason::kAllowed:
      return "allowed";
    case FlagReason::kPercent:
      return "percent";
  }
  return "unknown";
}

Result<FlagDecision> evaluate_flag(const SegmentView& view, std::string_view name,
                                   std::string_view subject) noexcept {
  if (name.empty() || name.size() > kMaxFlagName) return Errc::kInvalid;
  // One hash of the path serves the lookup and seeds the subject's hash.
  char key[kFlagsPrefix.size() + kMaxFlagName];
  const std::size_t len = flag_key(name, key);
  const std::uint64_t h = path_hash(key, len);
  const format::Node* flag = view.seed() == 0 ? view.find({key, len}, h) : view.find({key, len});
  if (flag == nullptr) return Errc::kNotFound;
  return evaluate_flag_node(view, *flag, h, subject);
}

Result<FlagDecision> evaluate_flag_node(const SegmentView& view, const format::Node& flag,
                                        std::uint64_t path_hash,
                                        std::string_view subject) noexcept {
  FlagDecision d;
  d.bucket = bucket_of(path_hash, subject);
  d.threshold = kFlagBuckets;
  if (format::node_type(flag) != Type::kObject) return Errc::kWrongType;

  // The members: allow, deny, enabled, percent (the daemon refuses any
  // other, and other types).
  const format::Node* allow = nullptr;
  const format::Node* deny = nullptr;
  int enabled = -1;
  const std::uint32_t first = format::low32(flag.payload);
  const std::uint32_t count = format::high32(flag.payload);
  for (std::uint32_t i = first; i < first + count; ++i) {
    const format::Node& m = view.node(i);
    const std::string_view field = member_name(view, m);
    const Type t = format::node_type(m);
    if (field == "enabled" && t == Type::kBool) {
      enabled = m.payload != 0 ? 1 : 0;
    } else if (field == "percent") {
      if (!threshold_of(m, &d.threshold)) return Errc::kWrongType;
    } else if (field == "allow" && t == Type::kArray) {
      allow = &m;
    } else if (field == "deny" && t == Type::kArray) {
      deny = &m;
    } else {
      return Errc::kWrongType;
    }
  }
  if (enabled < 0) return Errc::kWrongType;

  if (enabled == 0) {
    d.reason = FlagReason::kDisabled;
  } else if (listed(view, deny, subject)) {
    d.reason = FlagReason::kDenied;
  } else if (listed(view, allow, subject)) {
    d.on = true;
    d.reason = FlagReason::kAllowed;
  } else {
    d.on = d.bucket < d.threshold;
    d.reason = FlagReason::kPercent;
  }
  return d;
}

}  // namespace shmconf
