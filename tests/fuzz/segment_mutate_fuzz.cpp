// tests/fuzz/segment_mutate_fuzz.cpp — a segment whose bytes change while a
// client reads it. A published segment is never modified (docs/FORMAT.md), but a
// reader must not fault if its owner breaks that promise: a wrong answer is
// acceptable, a read outside the mapping or a hang is not.
//
// Input: a segment (its header's segment_size bytes, checksum recomputed as
// in segment_fuzz.cpp) followed by an edit script of 8-byte records
// {u32 offset, u32 value}. After open() accepted the segment, one edit is
// applied between each two steps of the walk (segment_walk.hpp): the value
// is written at offset % segment_size (4-byte aligned). Deterministic, so a
// crash replays.
#include <cstring>
#include <vector>

#include "fuzz.hpp"
#include "segment_walk.hpp"

namespace shmconf::fuzz {

int segment_mutate(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint64_t> buf;
  const std::size_t n = aligned_segment(data, size, buf);
  SegmentView view;
  if (SegmentView::open(buf.data(), n, 0, &view) != Errc::kOk) return 0;
  const std::size_t seg = view.header().segment_size;
  const std::uint8_t* edits = data + seg;
  const std::size_t edit_count = (size - seg) / 8;
  auto* bytes = reinterpret_cast<unsigned char*>(buf.data());
  std::size_t next = 0;
  walk_segment(view, false, [&] {
    if (next == edit_count) return;
    std::uint32_t off, value;
    std::memcpy(&off, edits + next * 8, 4);
    std::memcpy(&value, edits + next * 8 + 4, 4);
    ++next;
    std::memcpy(bytes + ((off % seg) & ~std::size_t{3}), &value, 4);
  });
  return 0;
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::segment_mutate)
