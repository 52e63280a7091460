// tests/client/hostile_segment_test.cpp — SegmentView::open against corrupt
// and hostile segments. Each case edits one good segment; the structural
// cases then recompute the checksum, so they reach the check they target
// instead of stopping at the checksum. Every refusal must name the right
// Errc and say why, and nothing may read outside the buffer: the buffers
// handed to open() are exactly as long as they claim, so ASan catches a
// stray read (SHMCONF_SANITIZE=address).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"
#include "shmconf/shmconf.h"

namespace shmconf {
namespace {

using format::ChangedKey;
using format::IndexSlot;
using format::MetaHeader;
using format::Node;
using format::Origin;
using format::SegmentHeader;
using format::StrRef;
using format::Type;

static_assert(SHMCONF_E_VERSION == static_cast<int>(Errc::kVersion));
static_assert(SHMCONF_E_FORMAT == SHMCONF_E_VERSION);

// The previous version, so the good segment carries a change list too.
constexpr std::string_view kPrevious = R"({
  "database": {"host": "old", "port": 1},
  "gone": 1,
  "servers": [{"host": "a", "port": 1}],
  "flags": {"on": false}
})";

// Objects, arrays, every scalar type, strings, shared names, sources and a
// change list.
constexpr std::string_view kConfig = R"({
  "database": {"host": "db.internal", "port": 5432, "pool": {"max_size": 20}},
  "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}],
  "flags": {"on": true, "off": false, "none": null, "ratio": 1.5},
  "empty_list": [],
  "empty_map": {}
})";

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

class HostileSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    test::BuildOptions o;
    o.sources = {"file:a.json", "env:APP_"};
    prev_ = test::build(test::json(kPrevious), o);
    ASSERT_EQ(SegmentView::open(prev_.data(), prev_.size(), 0, &prev_view_), Errc::kOk);
    o.version = 2;
    o.previous = &prev_view_;
    good_ = test::build(test::json(kConfig), o);
    ASSERT_EQ(SegmentView::open(good_.data(), good_.size(), 0, &good_view_), Errc::kOk);
    bytes_ = good_;
    ASSERT_EQ(open(), Errc::kOk) << why_.message;
    ASSERT_GT(meta().changed_count, 2u);
  }

  SegmentHeader& hdr() { return at<SegmentHeader>(0); }
  Node& node(std::uint32_t i) { return at<Node>(hdr().nodes_off + i * sizeof(Node)); }
  Origin& origin(std::uint32_t i) { return at<Origin>(hdr().origins_off + i * sizeof(Origin)); }
  IndexSlot& slot(std::uint32_t i) {
    return at<IndexSlot>(hdr().index_off + i * sizeof(IndexSlot));
  }
  MetaHeader& meta() { return at<MetaHeader>(hdr().meta_off); }
  template <class T>
  T& at(std::uint64_t off) {
    return *reinterpret_cast<T*>(bytes_.data() + off);
  }
  std::uint32_t size() const { return static_cast<std::uint32_t>(bytes_.size()); }
  std::uint32_t pool_end() { return hdr().strings_off + hdr().strings_size; }

  // Index of the node for `key` in the good segment, and of its slot.
  std::uint32_t node_of(std::string_view key) {
    const Node* n = good_view_.find(key);
    EXPECT_NE(n, nullptr) << key;
    return n ? good_view_.index_of(*n) : 0;
  }
  std::uint32_t slot_of(std::string_view key) {
    const std::uint32_t n = node_of(key);
    const auto slots = good_view_.slots();
    for (std::uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].empty() && slots[s].node() == n) return s;
    }
    ADD_FAILURE() << "no slot for " << key;
    return 0;
  }
  void set_parent(std::uint32_t i, std::uint32_t parent) {
    node(i).bits = (node(i).bits & 0xFu) | (parent << 4);
  }
  void set_type(std::uint32_t i, std::uint8_t type) { node(i).bits = (node(i).bits & ~7u) | type; }

  void rechecksum() {
    hdr().checksum = XXH3_64bits(bytes_.data() + format::kChecksumFrom,
                                 hdr().segment_size - format::kChecksumFrom);
  }
  Errc open(std::uint64_t expected_checksum = 0) {
    why_ = {};
    SegmentView v;
    const Errc e = SegmentView::open(bytes_.data(), bytes_.size(), expected_checksum, &v, &why_);
    if (e != Errc::kOk) {
      EXPECT_TRUE(v.empty());
    }
    return e;
  }
  // Refused with `code` for the reason that mentions `reason`.
  testing::AssertionResult refused(Errc code, std::string_view reason) {
    const Errc e = open();
    const std::string msg = why_.message;
    if (e != code || msg.find(reason) == std::string::npos) {
      return testing::AssertionFailure()
             << "open() returned " << static_cast<int>(e) << " \"" << msg << "\", wanted "
             << static_cast<int>(code) << " mentioning \"" << reason << "\"";
    }
    return testing::AssertionSuccess();
  }
  testing::AssertionResult refused_after_rechecksum(std::string_view reason) {
    rechecksum();
    return refused(Errc::kCorrupt, reason);
  }
  // Accepted: the damage is one validation does not (and need not) catch.
  testing::AssertionResult accepted_after_rechecksum(SegmentView* v) {
    rechecksum();
    why_ = {};
    const Errc e = SegmentView::open(bytes_.data(), bytes_.size(), 0, v, &why_);
    if (e != Errc::kOk) {
      return testing::AssertionFailure()
             << "refused: " << static_cast<int>(e) << " " << why_.message;
    }
    return testing::AssertionSuccess();
  }

  std::vector<std::byte> prev_;
  SegmentView prev_view_;
  std::vector<std::byte> good_;
  SegmentView good_view_;
  std::vector<std::byte> bytes_;
  SegmentError why_;
};

// ---- framing and header ------------------------------------------------------------

TEST_F(HostileSegment, TruncatedAtEveryEightBytes_RefusedCorrupt) {
  for (std::size_t len = 0; len < good_.size(); len += 8) {
    // Exactly `len` bytes on the heap: reading past them is an ASan error.
    std::vector<std::byte> cut(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(len));
    SegmentView v;
    SegmentError why;
    EXPECT_EQ(SegmentView::open(cut.empty() ? bytes_.data() : cut.data(), len, 0, &v, &why),
              Errc::kCorrupt)
        << len;
    EXPECT_NE(why.message[0], '\0') << len;
    EXPECT_TRUE(v.empty());
  }
}

TEST_F(HostileSegment, TruncatedWithSizeFieldAgreeing_RefusedCorrupt) {
  // Cut inside each section and make segment_size say so: the checksum is
  // recomputed, so the section bounds are what refuse it.
  for (std::uint32_t cut : {hdr().nodes_off + 8, hdr().origins_off + 8, hdr().index_off + 8,
                            hdr().meta_off + 8, hdr().strings_off + 8}) {
    bytes_ = good_;
    bytes_.resize(cut);
    hdr().segment_size = cut;
    EXPECT_TRUE(refused_after_rechecksum("outside")) << cut;
  }
}

TEST_F(HostileSegment, OneByteShort_RefusedCorrupt) {
  std::vector<std::byte> cut(good_.begin(), good_.end() - 1);
  SegmentView v;
  SegmentError why;
  EXPECT_EQ(SegmentView::open(cut.data(), cut.size(), 0, &v, &why), Errc::kCorrupt);
  EXPECT_NE(std::string(why.message).find("segment size"), std::string::npos) << why.message;
}

TEST_F(HostileSegment, NullData_RefusedCorrupt) {
  SegmentView v;
  EXPECT_EQ(SegmentView::open(nullptr, 4096, 0, &v), Errc::kCorrupt);
}

TEST_F(HostileSegment, MisalignedBase_RefusedInvalid) {
  std::vector<std::byte> shifted(good_.size() + 8);
  std::memcpy(shifted.data() + 4, good_.data(), good_.size());
  SegmentView v;
  EXPECT_EQ(SegmentView::open(shifted.data() + 4, good_.size(), 0, &v), Errc::kInvalid);
}

TEST_F(HostileSegment, MappedLongerThanSegment_Accepted) {
  // shm objects are mapped in whole pages: bytes past segment_size are ignored.
  bytes_.resize(bytes_.size() + 4096, std::byte{0xAB});
  EXPECT_EQ(open(), Errc::kOk) << why_.message;
}

TEST_F(HostileSegment, BadMagic_RefusedCorrupt) {
  hdr().magic ^= 1;
  EXPECT_TRUE(refused(Errc::kCorrupt, "magic"));
}

TEST_F(HostileSegment, OtherByteOrderMagic_RefusedCorrupt) {
  hdr().magic = __builtin_bswap64(format::kSegmentMagic);
  EXPECT_TRUE(refused(Errc::kCorrupt, "magic"));
}

TEST_F(HostileSegment, WrongLayoutSignature_RefusedVersion) {
  hdr().layout_signature ^= 0x100;
  EXPECT_TRUE(refused(Errc::kVersion, "layout"));
}

TEST_F(HostileSegment, WrongHeaderSize_RefusedCorrupt) {
  hdr().header_size = sizeof(SegmentHeader) + 8;
  EXPECT_TRUE(refused(Errc::kCorrupt, "header size"));
}

TEST_F(HostileSegment, AnyFlagSet_RefusedCorrupt) {
  for (int bit = 0; bit < 32; ++bit) {
    bytes_ = good_;
    hdr().flags = 1u << bit;
    EXPECT_TRUE(refused(Errc::kCorrupt, "flags")) << bit;
  }
}

TEST_F(HostileSegment, SegmentSizeBeyondMapped_RefusedCorrupt) {
  hdr().segment_size = size() + 8;
  EXPECT_TRUE(refused(Errc::kCorrupt, "segment size"));
}

TEST_F(HostileSegment, SegmentSizeBelowHeader_RefusedCorrupt) {
  hdr().segment_size = sizeof(SegmentHeader) - 8;
  EXPECT_TRUE(refused(Errc::kCorrupt, "segment size"));
}

TEST_F(HostileSegment, SegmentSizeHuge_RefusedCorrupt) {
  hdr().segment_size = ~std::uint64_t{0};
  EXPECT_TRUE(refused(Errc::kCorrupt, "segment size"));
}

// ---- versions ----------------------------------------------------------------------------

TEST_F(HostileSegment, CommittedV1Segment_RefusedVersion) {
  // The golden segment as the version 1 builder wrote it (40-byte nodes,
  // 32-byte slots, full paths in the pool).
  const std::vector<std::byte> v1 = read_bytes(test::data_path("golden/example-v1.seg"));
  ASSERT_GE(v1.size(), sizeof(SegmentHeader));
  const auto& h = *reinterpret_cast<const SegmentHeader*>(v1.data());
  ASSERT_EQ(h.magic, format::kSegmentMagic);
  ASSERT_EQ(h.format_version, 1u);
  ASSERT_EQ(h.layout_signature,
            format::kControlLayoutSignature);  // v1's, kept by the control block
  SegmentView v;
  SegmentError why;
  EXPECT_EQ(SegmentView::open(v1.data(), v1.size(), 0, &v, &why), Errc::kVersion);
  EXPECT_TRUE(v.empty());
  EXPECT_NE(std::string(why.message).find("format version 1"), std::string::npos) << why.message;
  // Also with the control block's checksum and only the header mapped: the
  // version is checked before anything whose meaning depends on it.
  EXPECT_EQ(SegmentView::open(v1.data(), v1.size(), h.checksum, &v), Errc::kVersion);
  EXPECT_EQ(SegmentView::open(v1.data(), sizeof(SegmentHeader), 0, &v), Errc::kVersion);
}

TEST_F(HostileSegment, CommittedV2Segment_RefusedVersion) {
  // The golden segment as the version 2 builder wrote it (8-byte slots).
  const std::vector<std::byte> v2 = read_bytes(test::data_path("golden/example-v2.seg"));
  ASSERT_GE(v2.size(), sizeof(SegmentHeader));
  const auto& h = *reinterpret_cast<const SegmentHeader*>(v2.data());
  ASSERT_EQ(h.magic, format::kSegmentMagic);
  ASSERT_EQ(h.format_version, 2u);
  ASSERT_NE(h.layout_signature, format::kLayoutSignature);
  SegmentView v;
  SegmentError why;
  EXPECT_EQ(SegmentView::open(v2.data(), v2.size(), 0, &v, &why), Errc::kVersion);
  EXPECT_TRUE(v.empty());
  EXPECT_NE(std::string(why.message).find("format version 2"), std::string::npos) << why.message;
  EXPECT_EQ(SegmentView::open(v2.data(), sizeof(SegmentHeader), 0, &v), Errc::kVersion);
}

TEST_F(HostileSegment, V1ShapedHeader_RefusedVersion) {
  // A v2 segment relabelled version 1, with v1's layout signature and v1's
  // reserved words where origins_off now is: refused before any of it.
  hdr().format_version = 1;
  hdr().layout_signature = format::kControlLayoutSignature;
  hdr().origins_off = 0;
  rechecksum();
  EXPECT_TRUE(refused(Errc::kVersion, "format version 1"));
}

TEST_F(HostileSegment, FutureFormatVersion_RefusedVersion) {
  for (std::uint32_t version : {4u, 0x100u, 0xFFFFFFFFu, 0u}) {
    bytes_ = good_;
    hdr().format_version = version;
    rechecksum();
    EXPECT_TRUE(refused(Errc::kVersion, "version")) << version;
  }
}

TEST_F(HostileSegment, V3VersionWithV1Signature_RefusedVersion) {
  hdr().layout_signature = format::kControlLayoutSignature;
  rechecksum();
  EXPECT_TRUE(refused(Errc::kVersion, "layout signature"));
}

TEST(HostileSegmentClient, V1SegmentPublished_ClientKeepsItsSnapshot) {
  // A daemon of the other version publishes: the client refuses the
  // segment, keeps serving the one it had and says why.
  test::TestPublisher pub;
  pub.publish(R"({"a": 1})");
  Client c = Client::open(test::TestPublisher::kNs, pub.options());
  ASSERT_EQ(c.get_int("a").value(), 1);

  const std::vector<std::byte> v1 = read_bytes(test::data_path("golden/example-v1.seg"));
  constexpr std::uint64_t kId = 1'000'011;
  const std::string name = segment_object_name(pub.prefix(), test::TestPublisher::kNs, kId);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::fchmod(fd, 0644), 0);
  ASSERT_EQ(::write(fd, v1.data(), v1.size()), static_cast<ssize_t>(v1.size()));
  ::close(fd);
  // The record: version 2, the v1 object's size and checksum.
  test::BuildOptions o;
  o.version = 2;
  test::Built record(R"({"a": 2})", o);
  ASSERT_LE(record.view.header().segment_size, v1.size());
  daemon::Segment seg;
  seg.id = kId;
  seg.view = record.view;
  pub.publisher().flip(seg);

  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_EQ(c.version(), 1u);
  const std::string err = c.last_error();
  EXPECT_NE(err.find("format version 1"), std::string::npos) << err;
  pub.publish(R"({"a": 3})");
  EXPECT_EQ(c.get_int("a").value(), 3);
}

// ---- checksum ------------------------------------------------------------------------------

TEST_F(HostileSegment, ByteFlippedInEverySection_ChecksumMismatch) {
  const std::uint32_t name_off = node(node_of("database.port")).name;
  for (std::uint64_t off :
       {std::uint64_t{format::kChecksumFrom}, std::uint64_t{hdr().nodes_off + 13},
        std::uint64_t{hdr().origins_off + 9}, std::uint64_t{hdr().index_off + 1},
        std::uint64_t{hdr().meta_off + 2}, std::uint64_t{name_off - 2}, std::uint64_t{name_off},
        std::uint64_t{hdr().strings_off + 3}, std::uint64_t{size() - 1}}) {
    bytes_ = good_;
    at<unsigned char>(off) ^= 0x20;
    EXPECT_TRUE(refused(Errc::kCorrupt, "checksum")) << off;
  }
}

TEST_F(HostileSegment, ChecksumFieldFlipped_ChecksumMismatch) {
  hdr().checksum ^= 1;
  EXPECT_TRUE(refused(Errc::kCorrupt, "checksum"));
}

TEST_F(HostileSegment, ExpectedChecksumDiffers_RefusedCorrupt) {
  EXPECT_EQ(open(hdr().checksum ^ 1), Errc::kCorrupt);
  EXPECT_NE(std::string(why_.message).find("control block"), std::string::npos) << why_.message;
  EXPECT_EQ(open(hdr().checksum), Errc::kOk);
}

// ---- sections (valid checksum from here on) ---------------------------------------

TEST_F(HostileSegment, NodesOffsetPastEnd_Refused) {
  hdr().nodes_off = size();
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, NodeCountPastEnd_Refused) {
  hdr().node_count = 0xFFFFFFFFu;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, NodeCountZero_Refused) {
  hdr().node_count = 0;
  EXPECT_TRUE(refused_after_rechecksum("too small"));
}

TEST_F(HostileSegment, OriginsOffsetPastEnd_Refused) {
  hdr().origins_off = size();
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, OriginsTableRunsPastEnd_Refused) {
  hdr().origins_off = (size() - hdr().node_count * sizeof(Origin) + 8) & ~7u;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, OriginsOffsetWraps_Refused) {
  hdr().origins_off = 0xFFFFFFF8u;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, OriginsInsideHeader_Refused) {
  hdr().origins_off = 8;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, IndexOffsetPastEnd_Refused) {
  hdr().index_off = size() - 8;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, IndexCapacityPastEnd_Refused) {
  hdr().index_capacity = 0x7FFFFFFFu;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, IndexCapacityBelowNodeCount_Refused) {
  hdr().index_capacity = hdr().node_count - 1;
  EXPECT_TRUE(refused_after_rechecksum("too small"));
}

TEST_F(HostileSegment, StringPoolPastEnd_Refused) {
  hdr().strings_size = size();
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, StringPoolOffsetPastEnd_Refused) {
  hdr().strings_off = size() + 1;
  hdr().strings_size = 0;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, StringPoolInsideHeader_Refused) {
  hdr().strings_off = 8;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, MetaOffsetPastEnd_Refused) {
  hdr().meta_off = size();
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, MetaSizeBelowHeader_Refused) {
  hdr().meta_size = sizeof(MetaHeader) - 8;
  EXPECT_TRUE(refused_after_rechecksum("section"));
}

TEST_F(HostileSegment, MisalignedSections_Refused) {
  for (std::uint32_t SegmentHeader::*field :
       {&SegmentHeader::nodes_off, &SegmentHeader::index_off, &SegmentHeader::meta_off,
        &SegmentHeader::origins_off}) {
    bytes_ = good_;
    hdr().*field += 4;
    EXPECT_TRUE(refused_after_rechecksum("misaligned"));
  }
}

// ---- nodes ---------------------------------------------------------------------------

TEST_F(HostileSegment, RootNotObject_Refused) {
  set_type(0, static_cast<std::uint8_t>(Type::kArray));
  EXPECT_TRUE(refused_after_rechecksum("root"));
}

TEST_F(HostileSegment, RootWithName_Refused) {
  node(0).name = node(node_of("database")).name;
  EXPECT_TRUE(refused_after_rechecksum("root"));
}

TEST_F(HostileSegment, RootWithParent_Refused) {
  set_parent(0, 1);
  EXPECT_TRUE(refused_after_rechecksum("root"));
}

TEST_F(HostileSegment, UnknownType_Refused) {
  set_type(node_of("flags.none"), format::kTypeCount);
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, StringPayloadPastEnd_Refused) {
  Node& n = node(node_of("database.host"));
  n.payload = format::pack(format::low32(n.payload), size());
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, StringPayloadOffsetWraps_Refused) {
  node(node_of("database.host")).payload = format::pack(0xFFFFFFFFu, 2);
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, StringPayloadOutsidePool_Refused) {
  node(node_of("database.host")).payload = format::pack(hdr().nodes_off, 4);
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, StringValueWithoutNul_Refused) {
  const std::uint64_t p = node(node_of("database.host")).payload;
  at<char>(std::uint64_t{format::low32(p)} + format::high32(p)) = 'x';
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, BoolPayloadTwo_Refused) {
  node(node_of("flags.on")).payload = 2;
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, ChildRangePastNodeCount_Refused) {
  Node& n = node(node_of("servers"));
  n.payload = format::pack(format::low32(n.payload), hdr().node_count);
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, ChildRangeStartsAtSelf_Refused) {
  // A container that lists itself as its first child: a cycle.
  const std::uint32_t i = node_of("servers[0]");
  node(i).payload = format::pack(i, format::high32(node(i).payload));
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, ChildBeforeParent_Refused) {
  // The children of servers[1] pointed back at the root's children.
  Node& n = node(node_of("servers[1]"));
  n.payload = format::pack(1, format::high32(n.payload));
  EXPECT_TRUE(refused_after_rechecksum("malformed"));
}

TEST_F(HostileSegment, ParentIndexEqualsChild_Refused) {
  const std::uint32_t i = node_of("database.port");
  set_parent(i, i);
  EXPECT_TRUE(refused_after_rechecksum("parent after child"));
}

TEST_F(HostileSegment, ParentLinksLoop_Refused) {
  // database.pool.max_size -> database.pool -> database.pool.max_size: a
  // loop a walk up the parents would never leave.
  const std::uint32_t pool = node_of("database.pool");
  const std::uint32_t leaf = node_of("database.pool.max_size");
  ASSERT_LT(pool, leaf);
  set_parent(pool, leaf);
  EXPECT_TRUE(refused_after_rechecksum("parent after child"));
}

TEST_F(HostileSegment, ParentIndexHuge_Refused) {
  set_parent(node_of("database.port"), (1u << 28) - 1);
  EXPECT_TRUE(refused_after_rechecksum("parent after child"));
}

TEST_F(HostileSegment, ParentNotContainingChild_Refused) {
  // servers[0].host claims database as its parent.
  set_parent(node_of("servers[0].host"), node_of("database"));
  EXPECT_TRUE(refused_after_rechecksum("outside its parent"));
}

TEST_F(HostileSegment, ParentIsScalar_Refused) {
  set_parent(node_of("servers[0].host"), node_of("database.host"));
  EXPECT_TRUE(refused_after_rechecksum("outside its parent"));
}

TEST_F(HostileSegment, OverlappingChildRanges_Refused) {
  // database's range widened over the next node, which belongs to another
  // parent: every node still lies in its own parent's range, but walking
  // the tree would visit nodes twice (a DAG, exponential to walk).
  Node& db = node(node_of("database"));
  const std::uint64_t p = db.payload;
  ASSERT_LT(format::low32(p) + format::high32(p) + 1, hdr().node_count);
  db.payload = format::pack(format::low32(p), format::high32(p) + 1);
  EXPECT_TRUE(refused_after_rechecksum("overlap"));
}

// ---- names -----------------------------------------------------------------------------

TEST_F(HostileSegment, NameOffsetPastEnd_Refused) {
  node(node_of("database.port")).name = size();
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NameOffsetWraps_Refused) {
  for (std::uint32_t off : {0xFFFFFFFFu, 0xFFFFFFFEu, 0x80000000u}) {
    bytes_ = good_;
    node(node_of("database.port")).name = off;
    EXPECT_TRUE(refused_after_rechecksum("name")) << off;
  }
}

TEST_F(HostileSegment, NameOffsetOutsidePool_Refused) {
  // Inside the segment but not the pool: the node table, the header, the
  // first two bytes of the pool (the length would lie before it).
  for (std::uint32_t off :
       {hdr().nodes_off + 10, 2u, hdr().strings_off, hdr().strings_off + 1, pool_end()}) {
    bytes_ = good_;
    node(node_of("database.port")).name = off;
    EXPECT_TRUE(refused_after_rechecksum("name")) << off;
  }
}

TEST_F(HostileSegment, ObjectMemberWithoutName_Refused) {
  node(node_of("database.port")).name = 0;
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NameLengthPastPool_Refused) {
  const std::uint32_t name = node(node_of("database.port")).name;
  at<std::uint16_t>(name - 2) = static_cast<std::uint16_t>(pool_end() - name);
  EXPECT_TRUE(refused_after_rechecksum("name"));
  bytes_ = good_;
  at<std::uint16_t>(name - 2) = 0xFFFF;
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NameLengthZero_Refused) {
  const std::uint32_t name = node(node_of("database.port")).name;
  at<std::uint16_t>(name - 2) = 0;
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NameWithoutNul_Refused) {
  // The C API hands names out as C strings: the terminator must be there.
  const std::uint32_t name = node(node_of("database.port")).name;
  ASSERT_EQ(at<char>(name + 4), '\0');
  at<char>(name + 4) = 'x';
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NameLengthShortOfNul_Refused) {
  // "port" claimed to be 3 bytes long: byte 3 is 't', not NUL.
  const std::uint32_t name = node(node_of("database.port")).name;
  at<std::uint16_t>(name - 2) = 3;
  EXPECT_TRUE(refused_after_rechecksum("name"));
}

TEST_F(HostileSegment, NamedArrayElement_Refused) {
  node(node_of("servers[1]")).name = node(node_of("servers[1].host")).name;
  EXPECT_TRUE(refused_after_rechecksum("array element"));
}

TEST_F(HostileSegment, NameLongerThanKeyLimit_AcceptedKeyToReportsLength) {
  // A name in bounds, longer than a whole key may be: validation does not
  // bound path lengths (FORMAT.md §7), so a reader must not assume it.
  // key_to() reports the length and writes nothing; the lookup still works.
  const std::uint32_t len = format::kMaxKeyLength + 100;
  const std::uint32_t off = size();
  bytes_.resize(off + 2 + len + 1 + 5, std::byte{0});
  at<std::uint16_t>(off) = static_cast<std::uint16_t>(len);
  std::memset(bytes_.data() + off + 2, 'k', len);
  hdr().segment_size = size();
  hdr().strings_size = size() - hdr().strings_off;
  const std::uint32_t port = node_of("database.port");
  node(port).name = off + 2;
  SegmentView v;
  ASSERT_TRUE(accepted_after_rechecksum(&v));
  const std::string key = "database." + std::string(len, 'k');
  char buf[format::kMaxKeyLength];
  std::memset(buf, '#', sizeof buf);
  EXPECT_EQ(v.key_to(v.node(port), buf, sizeof buf), key.size());
  EXPECT_EQ(buf[0], '#');
  EXPECT_EQ(v.key(v.node(port)), key);
  // Its slot still holds the hash of "database.port": the lookup misses
  // rather than returning a node whose path is not the key.
  EXPECT_EQ(v.find("database.port"), nullptr);
  EXPECT_EQ(v.find(key), nullptr);
  EXPECT_EQ(v.find(key, key_hash("database.port", 0)), &v.node(port));
}

// ---- index -----------------------------------------------------------------------------

TEST_F(HostileSegment, SlotPointingAtRoot_Refused) {
  // Tag 1 keeps the slot in use: a word of 0 would be an empty slot.
  slot(slot_of("database.port")) = format::make_slot(0, 1);
  EXPECT_TRUE(refused_after_rechecksum("index slot"));
}

TEST_F(HostileSegment, SlotNodePastEnd_Refused) {
  IndexSlot& s = slot(slot_of("database.port"));
  s = format::make_slot(hdr().node_count, s.tag());
  EXPECT_TRUE(refused_after_rechecksum("index slot"));
}

TEST_F(HostileSegment, NoEmptySlot_Refused) {
  // Fill every empty slot with a copy of a used one: a probe for a missing
  // key would never meet an empty slot.
  const IndexSlot used = slot(slot_of("database.port"));
  for (std::uint32_t i = 0; i < hdr().index_capacity; ++i) {
    if (slot(i).empty()) slot(i) = used;
  }
  EXPECT_TRUE(refused_after_rechecksum("index holds"));
}

TEST_F(HostileSegment, SlotMissing_Refused) {
  slot(slot_of("database.port")) = IndexSlot{};
  EXPECT_TRUE(refused_after_rechecksum("index holds"));
}

TEST_F(HostileSegment, SlotTagWrong_AcceptedLookupMisses) {
  // Tags are not validated (that would hash every path on open): a wrong
  // one makes a lookup miss, never fault.
  IndexSlot& s = slot(slot_of("database.port"));
  s = format::make_slot(s.node(), s.tag() ^ 0x10);
  SegmentView v;
  ASSERT_TRUE(accepted_after_rechecksum(&v));
  EXPECT_EQ(v.find("database.port"), nullptr);
  EXPECT_NE(v.find("database.host"), nullptr);
}

TEST_F(HostileSegment, SlotsSwapped_AcceptedLookupNeverReturnsTheWrongNode) {
  // Two slots name each other's nodes: each probe meets a matching tag on
  // the wrong node, and the parent walk refuses it.
  const std::uint32_t a = slot_of("database.port"), b = slot_of("servers[1].host");
  const std::uint32_t node_a = slot(a).node();
  slot(a) = format::make_slot(slot(b).node(), slot(a).tag());
  slot(b) = format::make_slot(node_a, slot(b).tag());
  SegmentView v;
  ASSERT_TRUE(accepted_after_rechecksum(&v));
  EXPECT_EQ(v.find("database.port"), nullptr);
  EXPECT_EQ(v.find("servers[1].host"), nullptr);
  EXPECT_NE(v.find("servers[0].host"), nullptr);
}

// ---- origins ---------------------------------------------------------------------------

TEST_F(HostileSegment, OriginSourceOutOfRange_AcceptedNameEmpty) {
  // Origins are informational: any value is accepted, and a source index
  // past the table reads as no source.
  const std::uint32_t port = node_of("database.port");
  origin(port).source = 7;
  origin(port).line = 0xFFFFFFFFu;
  SegmentView v;
  ASSERT_TRUE(accepted_after_rechecksum(&v));
  EXPECT_EQ(v.origin(v.node(port)).source, 7u);
  EXPECT_EQ(v.source_name(7), "");
}

// ---- metadata ----------------------------------------------------------------------------

TEST_F(HostileSegment, SourcesOffsetPastMeta_Refused) {
  meta().sources_off = hdr().meta_off + hdr().meta_size;
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, SourceCountHuge_Refused) {
  meta().source_count = 0x10000000u;
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, SourcesMisaligned_Refused) {
  meta().sources_off += 2;
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, ChangedCountHuge_Refused) {
  meta().changed_count = 0xFFFFFFFFu;
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, ChangedOffsetOutsideMeta_Refused) {
  meta().changed_off = hdr().nodes_off;
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, TriggerPastEnd_Refused) {
  meta().trigger_len = size();
  EXPECT_TRUE(refused_after_rechecksum("metadata"));
}

TEST_F(HostileSegment, SourceStringPastEnd_Refused) {
  at<StrRef>(meta().sources_off + sizeof(StrRef)).len = size();
  EXPECT_TRUE(refused_after_rechecksum("source 1"));
}

TEST_F(HostileSegment, ChangedKeyPastEnd_Refused) {
  at<ChangedKey>(meta().changed_off + 2 * sizeof(ChangedKey)).key_off = size();
  EXPECT_TRUE(refused_after_rechecksum("changed key 2"));
}

TEST_F(HostileSegment, ChangedKeyWithoutNul_Refused) {
  const ChangedKey& c = at<ChangedKey>(meta().changed_off + sizeof(ChangedKey));
  at<char>(std::uint64_t{c.key_off} + c.key_len) = 'x';
  EXPECT_TRUE(refused_after_rechecksum("changed key 1"));
}

TEST_F(HostileSegment, ChangedKindUnknown_Refused) {
  for (std::uint32_t kind : {0u, 4u, 0xFFFFFFFFu}) {
    bytes_ = good_;
    at<ChangedKey>(meta().changed_off).kind = kind;
    EXPECT_TRUE(refused_after_rechecksum("changed key 0")) << kind;
  }
}

// ---- fuzz ---------------------------------------------------------------------------------

// Reads everything a client could reach from an accepted view: every node's
// key, name, origin, string and children, every slot, every lookup, the
// metadata, a walk of the tree, a walk up from every node, and a diff.
// Out-of-bounds reads fail under ASan; the counts catch a walk that is not
// a tree.
void touch_everything(const SegmentView& v, const SegmentView& other) {
  std::uint64_t sink = 0;
  char buf[format::kMaxKeyLength];
  for (std::uint32_t i = 0; i < v.node_count(); ++i) {
    const Node& n = v.node(i);
    const std::string key = v.key(n);
    const std::size_t len = v.key_to(n, buf, sizeof buf);
    EXPECT_EQ(len, key.size());
    sink += key.empty() ? 0 : static_cast<unsigned char>(key.back());
    sink += v.name(n).size() + v.source_name(v.origin(n).source).size() + v.origin(n).line;
    if (format::node_type(n) == Type::kString) {
      const std::string_view s = v.string_value(n.payload);
      sink += s.empty() ? 0 : static_cast<unsigned char>(s.back());
    }
    for (const Node& c : v.children(n)) sink += c.bits;
    std::uint32_t steps = 0;
    for (std::uint32_t p = i; p != 0; p = format::node_parent(v.node(p))) {
      ASSERT_LE(++steps, v.node_count()) << "parent links do not reach the root";
    }
    if (i > 0) {
      const Node* f = v.find(key);
      if (f != nullptr) sink += f->bits;
    }
  }
  for (const IndexSlot& s : v.slots()) sink += s.empty() ? 0 : v.node(s.node()).bits;
  for (const StrRef& s : v.sources()) sink += v.str(s.off, s.len).size();
  for (const ChangedKey& c : v.changed()) sink += v.str(c.key_off, c.key_len).size();
  sink += v.trigger().size();
  sink += v.find("database.port") != nullptr;
  sink += v.find("servers[1].host") != nullptr;
  sink += v.find("no.such.key") != nullptr;

  // Depth-first walk from the root with an explicit stack.
  std::uint64_t visited = 0;
  std::vector<const Node*> stack{&v.root()};
  while (!stack.empty() && visited <= v.node_count()) {
    const Node* n = stack.back();
    stack.pop_back();
    ++visited;
    for (const Node& c : v.children(*n)) stack.push_back(&c);
  }
  EXPECT_EQ(visited, v.node_count()) << "the nodes do not form one tree";
  sink += diff_segments(other, v).size() + diff_segments(v, other, "database.").size();
  volatile std::uint64_t keep = sink;
  (void)keep;
}

TEST_F(HostileSegment, RandomByteFlipsWithValidChecksum_NeverOutOfBounds) {
  const SegmentHeader h = hdr();
  std::mt19937_64 rng(0x5eed5eedu);
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::byte> fuzzed = good_;  // exactly segment_size bytes
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the structure (header, nodes, index, metadata), where a flip
      // means an offset, count, type or parent; then the pool, where the
      // names and their length prefixes are; then anywhere.
      std::uint64_t lo = 0, hi = fuzzed.size();
      switch (rng() % 4) {
        case 0:
        case 1:
          hi = h.strings_off;
          break;
        case 2:
          lo = h.strings_off;
          break;
        default:
          break;
      }
      const std::size_t pos = lo + rng() % (hi - lo);
      switch (rng() % 3) {
        case 0:
          fuzzed[pos] = static_cast<std::byte>(rng());
          break;
        case 1:
          fuzzed[pos] ^= static_cast<std::byte>(1u << (rng() % 8));
          break;
        default:
          fuzzed[pos] = static_cast<std::byte>((rng() & 1) ? 0xFF : 0x00);
          break;
      }
    }
    auto* fh = reinterpret_cast<SegmentHeader*>(fuzzed.data());
    if (fh->segment_size >= format::kChecksumFrom && fh->segment_size <= fuzzed.size()) {
      fh->checksum = XXH3_64bits(fuzzed.data() + format::kChecksumFrom,
                                 fh->segment_size - format::kChecksumFrom);
    }
    SegmentView v;
    SegmentError why;
    const Errc e = SegmentView::open(fuzzed.data(), fuzzed.size(), 0, &v, &why);
    if (e == Errc::kOk) {
      ++accepted;
      touch_everything(v, good_view_);
    } else {
      EXPECT_TRUE(e == Errc::kCorrupt || e == Errc::kVersion) << static_cast<int>(e);
      EXPECT_NE(why.message[0], '\0');
      EXPECT_TRUE(v.empty());
    }
    if (HasFailure()) {
      ADD_FAILURE() << "fuzz iteration " << iter;
      return;
    }
  }
  // Flips in string bytes, origins and tags are harmless: some pass.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace shmconf
