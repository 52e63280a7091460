// shmconf/detail/control.hpp — reading the control block: the seqlock
// record read and the futex wait. Shared by the client and the daemon; not
// part of the stable API.
#pragma once

#include <cstdint>

#include "shmconf/format.hpp"
#include "shmconf/result.hpp"

namespace shmconf::detail {

// The control block's record, as read under the seqlock.
struct Record {
  std::uint64_t generation = 0;
  std::uint64_t version = 0;
  std::uint64_t segment_id = 0;
  std::uint64_t segment_size = 0;
  std::uint64_t checksum = 0;
  std::uint64_t content_hash = 0;
  std::uint64_t publish_time_ns = 0;
};

// Reads the record with the seqlock protocol (FORMAT.md "Read protocol").
// kBusy when the sequence stayed odd or kept changing for kMaxSeqlockTries.
Errc read_record(const format::ControlBlock* ctl, Record* out) noexcept;
inline constexpr int kMaxSeqlockTries = 10000;

// Sleeps until *word != expected, *stop != 0 (if stop is non-null), or
// `timeout_ns` passes (negative: forever). `word` is in shared memory and is
// waited on with a shared futex; `stop` is process-private.
void futex_wait(const std::uint32_t* word, std::uint32_t expected, const std::uint32_t* stop,
                std::int64_t timeout_ns) noexcept;
void futex_wake_private(std::uint32_t* word) noexcept;

}  // namespace shmconf::detail
