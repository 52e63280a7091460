// tests/client/golden_view_test.cpp — the golden segment (see golden_test.cpp)
// read through SegmentView, which must agree with the FORMAT.md decoder on
// every node; the segment rebuilt from example.json, byte for byte; and the
// worked example dump in FORMAT.md.
#include "client/golden_decoder.hpp"

namespace shmconf {
namespace {

using namespace golden;
using format::Node;
using format::Type;  // not shmconf::Type

// ---- SegmentView agrees with the decoder ----------------------------------------------

TEST_F(Golden, View_AgreesWithDecoderOnEveryNode) {
  ASSERT_EQ(view_.node_count(), raw_->nodes.size());
  for (std::uint32_t i = 0; i < view_.node_count(); ++i) {
    const Node& n = view_.node(i);
    const RawNode& want = raw_->nodes[i];
    SCOPED_TRACE(want.key);
    EXPECT_EQ(view_.key(n), want.key);
    EXPECT_EQ(view_.name(n), want.name);
    EXPECT_EQ(static_cast<std::uint8_t>(format::node_type(n)), want.type());
    EXPECT_EQ(format::node_parent(n), want.parent());
    EXPECT_EQ(format::node_sensitive(n), want.sensitive());
    EXPECT_EQ(n.payload, want.payload);
    EXPECT_EQ(view_.origin(n).line, want.line);
    EXPECT_EQ(view_.origin(n).column, want.column);
    EXPECT_EQ(view_.origin(n).source, want.source);
    if (i > 0) {
      EXPECT_EQ(view_.find(want.key), &n);
    }
  }
}

TEST_F(Golden, Scalars_ThroughView) {
  EXPECT_EQ(view_.string_value(at("service.name").payload), "billing");
  EXPECT_EQ(at("service.enabled").payload, 1u);
  EXPECT_TRUE(std::signbit(std::bit_cast<double>(at("service.negative_zero").payload)));
  EXPECT_EQ(format::node_type(at("service.nothing")), Type::kNull);
  EXPECT_EQ(view_.string_value(at("servers[1].tags[1]").payload), "canary");
  EXPECT_EQ(view_.string_value(at("matrix[1][1]").payload), "x");
  EXPECT_EQ(view_.array_index(at("matrix[1][3]")), 3u);
}

TEST_F(Golden, Containers_ThroughView) {
  EXPECT_EQ(format::node_type(at("servers")), Type::kArray);
  EXPECT_EQ(view_.children(at("servers")).size(), 2u);
  EXPECT_EQ(view_.children(at("matrix[1]")).size(), 4u);
  EXPECT_EQ(format::node_type(at("empty_list")), Type::kArray);
  EXPECT_TRUE(view_.children(at("empty_list")).empty());
  EXPECT_EQ(format::node_type(at("empty_map")), Type::kObject);
  EXPECT_TRUE(view_.children(at("empty_map")).empty());
  std::vector<std::string_view> top;
  for (const Node& n : view_.children(view_.root())) top.push_back(view_.name(n));
  EXPECT_EQ(top, (std::vector<std::string_view>{"database", "empty_list", "empty_map", "matrix",
                                                "servers", "service"}));
}

// ---- the bytes --------------------------------------------------------------------------

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

// The worked example of FORMAT.md §12: the builder's output, byte for byte,
// is the hex dump the page annotates.
TEST(GoldenFormatDoc, WorkedExample_IsTheDumpInFormatMd) {
  const daemon::Value root = daemon::parse_text(R"({"db":{"port":5432,"host":"x"},"on":true})",
                                                daemon::Format::kJson, "app.json", 0);
  test::BuildOptions o;
  o.version = 1;
  o.publish_time_ns = kGoldenTime;
  o.trigger = "startup";
  o.sources = {"file:/etc/app/app.json"};
  const std::vector<std::byte> bytes = test::build(root, o);
  // xxd -p -c 16 of the segment.
  const char* const kDump[] = {
      "53484d43534547010300000098ba553b", "80000000000000007801000000000000",
      "12f55c6379d43d370100000000000000", "00002a36fe9c9717edcf6ae6f9373e28",
      "050000000600000080000000f8000000", "38010000400000001001000028000000",
      "00000000000000000000000000000000", "d0000000000000000000000000000000",
      "01000000020000000000000006000000", "03000000020000003a01000006000000",
      "01000000000000003f01000001000000", "50010000010000004401000014000000",
      "38150000000000004b01000012000000", "01000000010000000100000007000000",
      "0100000025000000010000001b000000", "010000000f0000000300005a04000052",
      "0000000000000000020000de010000d2", "01000000300100000000000038010000",
      "69010000070000000000000000000000", "5201000016000000020064620002006f",
      "6e000400686f7374000400706f727400", "780066696c653a2f6574632f6170702f",
      "6170702e6a736f6e0073746172747570", "0000000000000000",
  };
  std::string want;
  for (const char* line : kDump) want += line;
  std::string got;
  for (std::byte b : bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    got += kHex[std::to_integer<int>(b) >> 4];
    got += kHex[std::to_integer<int>(b) & 15];
  }
  EXPECT_EQ(got, want) << "update FORMAT.md §12 (and this dump) if the format changed";
  SegmentView v;
  ASSERT_EQ(SegmentView::open(bytes.data(), bytes.size(), 0, &v), Errc::kOk);
  EXPECT_EQ(bytes.size(), 376u);
  EXPECT_EQ(v.header().checksum, 0x373dd479635cf512ull);
  EXPECT_EQ(v.header().content_hash, 0x283e37f9e66acfedull);
  EXPECT_EQ(v.header().content_hash, daemon::content_hash(root));
}

}  // namespace
}  // namespace shmconf
