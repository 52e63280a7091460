// tests/fuzz/segment_fuzz.cpp — SegmentView::open() on arbitrary bytes, then
// everything a client does with a segment it accepted (segment_walk.hpp).
//
// The checksum field is recomputed before open(): otherwise almost every
// input would stop at the checksum and the fuzzer would never reach the
// structural checks behind it. The segment's bytes are copied into an
// 8-byte aligned buffer, as a mapping is.
#include <vector>

#include "fuzz.hpp"
#include "segment_walk.hpp"

namespace shmconf::fuzz {

int segment(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint64_t> buf;
  const std::size_t n = aligned_segment(data, size, buf);
  SegmentView view;
  SegmentError why;
  if (SegmentView::open(buf.data(), n, 0, &view, &why) != Errc::kOk) {
    SHMCONF_FUZZ_CHECK(why.message[0] != '\0');
    return 0;
  }
  walk_segment(view, true, [] {});
  return 0;
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::segment)
