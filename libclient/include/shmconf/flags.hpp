// shmconf/flags.hpp — feature flags evaluated in the client (docs/FLAGS.md).
//
// A flag is configuration of a declared shape, validated by the daemon at
// publish:
//
//   flags:
//     new_checkout: {enabled: true, percent: 25, allow: [alice], deny: [bob]}
//
// The answer for (flag, subject) is, in this order:
//   1. enabled false            -> off (a kill switch: allow does not override it)
//   2. subject in deny          -> off
//   3. subject in allow         -> on
//   4. flag_bucket(name, subject) < threshold -> on, else off
// where flag_bucket(name, subject) = XXH3-64(subject, seed = h) mod 10000,
// h = XXH3-64("flags." + name) (seed 0; 0 read as 1: the flag's key_hash,
// FORMAT.md §5.2), and threshold is percent x 100 rounded half up (basis
// points; percent absent = 100). The hash is stable across
// processes, versions of shmconf, languages and machines, so every reader
// gives one subject the same answer; raising percent only adds subjects.
//
// Thread-safety: pure functions of a pinned segment. Cost: one string-key
// lookup of "flags.NAME", a walk of its (at most four) members, a scan of
// allow and deny, and one hash of the subject; no allocation, lock or
// system call. The path hash serves both the lookup and the bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shmconf/result.hpp"

namespace shmconf {

class SegmentView;
namespace format {
struct Node;
}

// Why a flag answered as it did.
enum class FlagReason : std::uint8_t {
  kDisabled = 1,  // enabled is false
  kDenied = 2,    // the subject is in deny
  kAllowed = 3,   // the subject is in allow
  kPercent = 4,   // bucket < threshold decided
};

struct FlagDecision {
  bool on = false;
  FlagReason reason = FlagReason::kDisabled;
  std::uint32_t bucket = 0;     // flag_bucket(name, subject), 0..9999
  std::uint32_t threshold = 0;  // percent in basis points, 0..10000
};

inline constexpr std::uint32_t kFlagBuckets = 10000;
// Longest flag name, in bytes (the daemon refuses longer ones at publish).
inline constexpr std::size_t kMaxFlagName = 128;

// XXH3-64(subject, seed = key_hash("flags." + name)) % 10000.
std::uint32_t flag_bucket(std::string_view name, std::string_view subject) noexcept;

// "disabled", "denied", "allowed", "percent".
const char* to_string(FlagReason r) noexcept;

// The decision for flag `name` in `view`: kNotFound when there is no
// flags.NAME, kWrongType when it is not a flag's shape (the daemon refuses
// such configurations, so only a segment from elsewhere has one), kInvalid
// for an empty name or one longer than kMaxFlagName.
Result<FlagDecision> evaluate_flag(const SegmentView& view, std::string_view name,
                                   std::string_view subject) noexcept;

// The same for the flag's node `flag` (the node of "flags.NAME"), found
// already; `path_hash` is key_hash("flags.NAME", 0), the bucket's seed.
// What Client::flag(const Key&, ...) runs after its cached lookup.
Result<FlagDecision> evaluate_flag_node(const SegmentView& view, const format::Node& flag,
                                        std::uint64_t path_hash, std::string_view subject) noexcept;

}  // namespace shmconf
