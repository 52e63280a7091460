// tests/client/hostile_segment_test.cpp — SegmentView::open against corrupt
// and hostile segments: framing, header, versions, checksum and sections
// (hostile_nodes_test.cpp has the rest). Each case edits one good segment;
// the structural cases then recompute the checksum, so they reach the check
// they target instead of stopping at the checksum. Every refusal must name
// the right Errc and say why, and nothing may read outside the buffer: the
// buffers handed to open() are exactly as long as they claim, so ASan
// catches a stray read (SHMCONF_SANITIZE=address).
#include "client/hostile_segment_fixture.hpp"

namespace shmconf {
namespace {

using namespace hostile;
using format::ChangedKey;  // not shmconf::ChangedKey
using format::Origin;      // not shmconf::Origin

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

}  // namespace
}  // namespace shmconf
