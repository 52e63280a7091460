// LineIndex (parse/parse_internal.hpp): byte offsets to line and column,
// checked against a plain count over texts whose newlines fall on every
// position of the 16-byte blocks the scan reads, queried forward (as the
// parsers do), with repeats, and backward (as error paths may).
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "parse/parse_internal.hpp"

namespace shmconf::daemon::detail {
namespace {

Pos expected(const std::string& text, std::size_t offset) {
  std::uint32_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return Pos{line, column};
}

std::string random_text(std::mt19937& rng, std::size_t size, unsigned newline_one_in) {
  std::string s(size, 'x');
  for (char& c : s) {
    if (rng() % newline_one_in == 0) c = '\n';
  }
  return s;
}

void check_queries(const std::string& text, const std::vector<std::size_t>& offsets) {
  const LineIndex index(text);
  for (const std::size_t off : offsets) {
    const Pos got = index.locate(off);
    const Pos want = expected(text, off);
    ASSERT_EQ(got.line, want.line) << "offset " << off << " of " << text.size();
    ASSERT_EQ(got.column, want.column) << "offset " << off << " of " << text.size();
  }
}

TEST(LineIndex, ForwardQueries_MatchAPlainCount) {
  std::mt19937 rng(7);
  for (const unsigned density : {1u, 2u, 5u, 17u, 64u, 1000u}) {
    const std::string text = random_text(rng, 3000, density);
    std::vector<std::size_t> offsets;
    for (std::size_t off = 0; off <= text.size(); off += 1 + rng() % 40) {
      offsets.push_back(off);
      if (rng() % 4 == 0) offsets.push_back(off);  // the same offset twice
    }
    check_queries(text, offsets);
  }
}

TEST(LineIndex, EveryOffset_OnEveryBlockBoundary) {
  // Newlines at each position 0..47, queried at every offset.
  for (std::size_t at = 0; at < 48; ++at) {
    std::string text(48, 'x');
    text[at] = '\n';
    text[47 - at / 2] = '\n';
    std::vector<std::size_t> offsets;
    for (std::size_t off = 0; off <= text.size(); ++off) offsets.push_back(off);
    check_queries(text, offsets);
  }
}

TEST(LineIndex, BackwardAndPastTheEnd_Queries) {
  std::mt19937 rng(11);
  const std::string text = random_text(rng, 500, 9);
  check_queries(text, {400, 17, 499, 500, 9999, 0, 250, 33});
  // Past the end is the end.
  const LineIndex index(text);
  const Pos end = index.locate(text.size());
  const Pos past = index.locate(text.size() + 100);
  EXPECT_EQ(past.line, end.line);
  EXPECT_EQ(past.column, end.column);
}

}  // namespace
}  // namespace shmconf::daemon::detail
