// tests/client/golden_test.cpp — a committed segment, so that any change to
// the bytes the builder writes (a format change) fails a test.
//
// tests/data/golden/example-v1.seg is built from tests/data/golden/example.json
// with version 7, publish_time_ns 1700000000000000000, trigger "golden",
// sources {"file:example.json"} and no previous version. The tests decode
// it, and rebuild it from the JSON and compare byte for byte.
//
// A deliberate format change bumps format::kFormatVersion (and FORMAT.md);
// then regenerate the file and commit it with the change:
//
//   SHMCONF_REGENERATE_GOLDEN=1 build/tests/client_tests --gtest_filter='Golden*'
//
// which writes the segment before the tests read it. Never regenerate to
// make an unexplained mismatch go away: that mismatch is what this catches.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"

namespace shmconf {
namespace {

using format::IndexSlot;
using format::Node;
using format::Type;

constexpr std::uint64_t kGoldenVersion = 7;
constexpr std::uint64_t kGoldenTime = 1'700'000'000'000'000'000ull;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

daemon::Value golden_tree() {
  return daemon::parse_file(test::data_path("golden/example.json"), /*source=*/0);
}

std::vector<std::byte> build_golden() {
  const daemon::Value root = golden_tree();
  test::BuildOptions o;
  o.version = kGoldenVersion;
  o.publish_time_ns = kGoldenTime;
  o.trigger = "golden";
  o.sources = {"file:example.json"};
  o.previous = nullptr;
  return test::build(root, o);
}

// The committed bytes, in 8-byte aligned storage. With
// SHMCONF_REGENERATE_GOLDEN=1 the file is rewritten first.
std::vector<std::byte> golden_bytes() {
  const std::string path = test::data_path("golden/example-v1.seg");
  if (const char* env = std::getenv("SHMCONF_REGENERATE_GOLDEN"); env && std::string(env) == "1") {
    static const bool written = [&] {
      const auto bytes = build_golden();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
      return out.good();
    }();
    EXPECT_TRUE(written) << "could not write " << path;
  }
  const std::string text = read_file(path);
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

class Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = golden_bytes();
    ASSERT_FALSE(bytes_.empty()) << "missing tests/data/golden/example-v1.seg";
    SegmentError why;
    ASSERT_EQ(SegmentView::open(bytes_.data(), bytes_.size(), 0, &view_, &why), Errc::kOk)
        << why.message;
  }
  const Node& at(std::string_view key) {
    const IndexSlot* s = view_.find(key);
    EXPECT_NE(s, nullptr) << key;
    static const Node kNone{};
    return s ? view_.node(s->node) : kNone;
  }
  std::vector<std::byte> bytes_;
  SegmentView view_;
};

TEST_F(Golden, Header_FieldsAsBuilt) {
  const auto& h = view_.header();
  EXPECT_EQ(h.magic, format::kSegmentMagic);
  EXPECT_EQ(h.format_version, 1u);
  EXPECT_EQ(h.layout_signature, format::kLayoutSignature);
  EXPECT_EQ(h.header_size, 128u);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.segment_size, bytes_.size());
  EXPECT_EQ(h.version, kGoldenVersion);
  EXPECT_EQ(h.publish_time_ns, kGoldenTime);
  EXPECT_EQ(h.content_hash, daemon::content_hash(golden_tree()));
  EXPECT_EQ(h.hash_seed, 0u);
  EXPECT_EQ(h.prev_version, 0u);
  EXPECT_EQ(h.reserved[0], 0u);
  EXPECT_EQ(h.reserved[1], 0u);
  EXPECT_EQ(h.segment_size % 8, 0u);
}

TEST_F(Golden, Checksum_MatchesXxh3OfBody) {
  const auto& h = view_.header();
  EXPECT_EQ(h.checksum, XXH3_64bits(bytes_.data() + format::kChecksumFrom,
                                    h.segment_size - format::kChecksumFrom));
}

TEST_F(Golden, Scalars_Decoded) {
  EXPECT_EQ(view_.string_value(at("service.name").payload), "billing");
  EXPECT_EQ(at("service.enabled").payload, 1u);
  EXPECT_EQ(at("service.debug").payload, 0u);
  EXPECT_EQ(std::bit_cast<double>(at("service.weight").payload), 0.75);
  EXPECT_EQ(static_cast<std::int64_t>(at("service.max_int").payload),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(static_cast<std::int64_t>(at("service.min_int").payload),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(std::signbit(std::bit_cast<double>(at("service.negative_zero").payload)));
  EXPECT_EQ(std::bit_cast<double>(at("service.big").payload), 1e308);
  EXPECT_EQ(view_.string_value(at("service.greeting").payload),
            "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C");
  EXPECT_EQ(view_.string_value(at("service.empty").payload), "");
  EXPECT_EQ(static_cast<Type>(at("service.nothing").type), Type::kNull);
  EXPECT_EQ(static_cast<std::int64_t>(at("database.port").payload), 5432);
  EXPECT_EQ(std::bit_cast<double>(at("database.pool.timeout_s").payload), 1.5);
  EXPECT_EQ(view_.string_value(at("servers[1].tags[1]").payload), "canary");
  EXPECT_EQ(view_.string_value(at("matrix[1][1]").payload), "x");
  EXPECT_EQ(at("matrix[1][3]").payload, 1u);
}

TEST_F(Golden, Containers_Decoded) {
  EXPECT_EQ(static_cast<Type>(at("servers").type), Type::kArray);
  EXPECT_EQ(view_.children(at("servers")).size(), 2u);
  EXPECT_EQ(view_.children(at("matrix[1]")).size(), 4u);
  EXPECT_EQ(static_cast<Type>(at("empty_list").type), Type::kArray);
  EXPECT_TRUE(view_.children(at("empty_list")).empty());
  EXPECT_EQ(static_cast<Type>(at("empty_map").type), Type::kObject);
  EXPECT_TRUE(view_.children(at("empty_map")).empty());
  std::vector<std::string_view> top;
  for (const Node& n : view_.children(view_.root())) top.push_back(view_.name(n));
  EXPECT_EQ(top, (std::vector<std::string_view>{"database", "empty_list", "empty_map", "matrix",
                                                "servers", "service"}));
}

TEST_F(Golden, Metadata_Decoded) {
  EXPECT_EQ(view_.trigger(), "golden");
  ASSERT_EQ(view_.sources().size(), 1u);
  EXPECT_EQ(view_.source_name(0), "file:example.json");
  // First version: every leaf is listed as added, sorted by key.
  ASSERT_FALSE(view_.changed().empty());
  std::string_view prev;
  for (const auto& c : view_.changed()) {
    EXPECT_EQ(c.kind, static_cast<std::uint32_t>(format::Change::kAdded));
    const std::string_view k = view_.str(c.key_off, c.key_len);
    EXPECT_LT(prev, k);
    prev = k;
  }
  const Node& port = at("database.port");
  EXPECT_EQ(view_.source_name(port.source), "file:example.json");
  EXPECT_EQ(port.line, 17u);
}

TEST_F(Golden, RebuiltFromJson_ByteIdentical) {
  const std::vector<std::byte> rebuilt = build_golden();
  ASSERT_EQ(rebuilt.size(), bytes_.size()) << "segment size changed: a format change?";
  std::size_t first_diff = rebuilt.size();
  for (std::size_t i = 0; i < rebuilt.size(); ++i) {
    if (rebuilt[i] != bytes_[i]) {
      first_diff = i;
      break;
    }
  }
  EXPECT_EQ(first_diff, rebuilt.size())
      << "the builder's output differs from the golden segment at byte " << first_diff
      << "; see the top of golden_test.cpp";
}

}  // namespace
}  // namespace shmconf
