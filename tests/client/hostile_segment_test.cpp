// tests/client/hostile_segment_test.cpp — SegmentView::open against corrupt
// and hostile segments. Each case edits one good segment; the structural
// cases then recompute the checksum, so they reach the check they target
// instead of stopping at the checksum. Every refusal must name the right
// Errc, and nothing may read outside the buffer: the buffers handed to
// open() are exactly as long as they claim, so ASan catches a stray read.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"

namespace shmconf {
namespace {

using format::ChangedKey;
using format::IndexSlot;
using format::MetaHeader;
using format::Node;
using format::SegmentHeader;
using format::StrRef;
using format::Type;

// Objects, arrays, every scalar type, strings, sources and a change list.
constexpr std::string_view kConfig = R"({
  "database": {"host": "db.internal", "port": 5432, "pool": {"max_size": 20}},
  "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}],
  "flags": {"on": true, "off": false, "none": null, "ratio": 1.5},
  "empty_list": [],
  "empty_map": {}
})";

class HostileSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    test::BuildOptions o;
    o.sources = {"file:a.json", "env:APP_"};
    good_ = test::build(test::json(kConfig), o);
    bytes_ = good_;
    ASSERT_EQ(open(), Errc::kOk) << why_.message;
  }

  SegmentHeader& hdr() { return at<SegmentHeader>(0); }
  Node& node(std::uint32_t i) { return at<Node>(hdr().nodes_off + i * sizeof(Node)); }
  IndexSlot& slot(std::uint32_t i) {
    return at<IndexSlot>(hdr().index_off + i * sizeof(IndexSlot));
  }
  MetaHeader& meta() { return at<MetaHeader>(hdr().meta_off); }
  template <class T>
  T& at(std::uint64_t off) {
    return *reinterpret_cast<T*>(bytes_.data() + off);
  }
  std::uint32_t size() const { return static_cast<std::uint32_t>(bytes_.size()); }

  // Index of the node (and of its slot) for `key` in the good segment.
  std::uint32_t node_of(std::string_view key) {
    SegmentView v;
    EXPECT_EQ(SegmentView::open(good_.data(), good_.size(), 0, &v), Errc::kOk);
    const IndexSlot* s = v.find(key);
    EXPECT_NE(s, nullptr) << key;
    return s ? s->node : 0;
  }
  std::uint32_t slot_of(std::string_view key) {
    SegmentView v;
    EXPECT_EQ(SegmentView::open(good_.data(), good_.size(), 0, &v), Errc::kOk);
    const IndexSlot* s = v.find(key);
    EXPECT_NE(s, nullptr) << key;
    return s ? static_cast<std::uint32_t>(s - v.slots().data()) : 0;
  }
  // Edits a node's payload and keeps its slot in agreement, so the node
  // check, not the slot check, is what refuses.
  void set_payload(std::string_view key, std::uint64_t payload) {
    node(node_of(key)).payload = payload;
    slot(slot_of(key)).payload = payload;
  }

  void rechecksum() {
    hdr().checksum = XXH3_64bits(bytes_.data() + format::kChecksumFrom,
                                 hdr().segment_size - format::kChecksumFrom);
  }
  Errc open(std::uint64_t expected_checksum = 0) {
    why_ = {};
    SegmentView v;
    return SegmentView::open(bytes_.data(), bytes_.size(), expected_checksum, &v, &why_);
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

  std::vector<std::byte> good_;
  std::vector<std::byte> bytes_;
  SegmentError why_;
};

// ---- framing and header ------------------------------------------------------------

TEST_F(HostileSegment, TruncatedAtEveryEightBytes_RefusedCorrupt) {
  for (std::size_t len = 0; len < good_.size(); len += 8) {
    // Exactly `len` bytes on the heap: reading past them is an ASan error.
    std::vector<std::byte> cut(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(len));
    SegmentView v;
    EXPECT_EQ(SegmentView::open(cut.empty() ? bytes_.data() : cut.data(), len, 0, &v),
              Errc::kCorrupt)
        << len;
    EXPECT_TRUE(v.empty());
  }
}

TEST_F(HostileSegment, OneByteShort_RefusedCorrupt) {
  std::vector<std::byte> cut(good_.begin(), good_.end() - 1);
  SegmentView v;
  EXPECT_EQ(SegmentView::open(cut.data(), cut.size(), 0, &v), Errc::kCorrupt);
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

TEST_F(HostileSegment, WrongFormatVersion_RefusedVersion) {
  hdr().format_version = format::kFormatVersion + 1;
  rechecksum();  // the version is checked before anything it would change
  EXPECT_TRUE(refused(Errc::kVersion, "version"));
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

TEST_F(HostileSegment, PayloadByteFlipped_ChecksumMismatch) {
  at<unsigned char>(hdr().strings_off + 3) ^= 0x20;
  EXPECT_TRUE(refused(Errc::kCorrupt, "checksum"));
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

TEST_F(HostileSegment, IndexOffsetPastEnd_Refused) {
  hdr().index_off = size() - 8;
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

TEST_F(HostileSegment, MisalignedNodes_Refused) {
  hdr().nodes_off += 4;
  EXPECT_TRUE(refused_after_rechecksum("misaligned"));
}

TEST_F(HostileSegment, MisalignedIndex_Refused) {
  hdr().index_off += 4;
  EXPECT_TRUE(refused_after_rechecksum("misaligned"));
}

TEST_F(HostileSegment, MisalignedMeta_Refused) {
  hdr().meta_off += 4;
  EXPECT_TRUE(refused_after_rechecksum("misaligned"));
}

// ---- nodes ---------------------------------------------------------------------------

TEST_F(HostileSegment, RootNotObject_Refused) {
  node(0).type = static_cast<std::uint8_t>(Type::kArray);
  EXPECT_TRUE(refused_after_rechecksum("root"));
}

TEST_F(HostileSegment, RootWithKey_Refused) {
  node(0).key_len = 1;
  EXPECT_TRUE(refused_after_rechecksum("root"));
}

TEST_F(HostileSegment, UnknownType_Refused) {
  const std::uint32_t n = node_of("flags.none");
  node(n).type = format::kTypeCount;
  slot(slot_of("flags.none")).type = format::kTypeCount;
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyOffsetPastEnd_Refused) {
  node(node_of("database.port")).key_off = size();
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyLengthPastPool_Refused) {
  Node& n = node(node_of("database.port"));
  n.key_len = hdr().strings_off + hdr().strings_size - n.key_off;
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyOffsetWraps_Refused) {
  Node& n = node(node_of("database.port"));
  n.key_off = 0xFFFFFFF0u;
  n.key_len = 0x20;
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyOutsideStringPool_Refused) {
  node(node_of("database.port")).key_off = hdr().nodes_off;  // in the segment, not the pool
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyWithoutNul_Refused) {
  // The C API hands keys out as C strings: the terminator must be there.
  const Node& n = node(node_of("database.port"));
  at<char>(n.key_off + n.key_len) = 'x';
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NodeKeyLongerThanLimit_Refused) {
  // A key in bounds but longer than kMaxKeyLength: grow the pool to hold it.
  const std::uint32_t off = size();
  bytes_.resize(off + format::kMaxKeyLength + 8, std::byte{'k'});
  at<char>(off + format::kMaxKeyLength + 1) = '\0';
  hdr().segment_size = size();
  hdr().strings_size = size() - hdr().strings_off;
  rechecksum();
  ASSERT_EQ(open(), Errc::kOk) << why_.message;  // the longer pool alone is fine
  Node& n = node(node_of("database.port"));
  n.key_off = off;
  n.key_len = format::kMaxKeyLength + 1;
  n.name_pos = 0;
  IndexSlot& s = slot(slot_of("database.port"));
  s.key_off = n.key_off;
  s.key_len = n.key_len;
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, NamePositionPastKey_Refused) {
  Node& n = node(node_of("database.port"));
  n.name_pos = n.key_len + 1;
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, StringPayloadPastEnd_Refused) {
  const std::uint64_t p = node(node_of("database.host")).payload;
  set_payload("database.host", format::pack(format::low32(p), size()));
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, StringPayloadOffsetWraps_Refused) {
  set_payload("database.host", format::pack(0xFFFFFFFFu, 2));
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, BoolPayloadTwo_Refused) {
  set_payload("flags.on", 2);
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, ChildRangePastNodeCount_Refused) {
  const std::uint64_t p = node(node_of("servers")).payload;
  set_payload("servers", format::pack(format::low32(p), hdr().node_count));
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, ChildRangeStartsAtSelf_Refused) {
  // A container that lists itself as its first child: a cycle.
  const std::uint32_t n = node_of("servers[0]");
  const std::uint64_t p = node(n).payload;
  set_payload("servers[0]", format::pack(n, format::high32(p)));
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, ChildBeforeParent_Refused) {
  // The children of servers[1] pointed back at the root's children.
  const std::uint64_t p = node(node_of("servers[1]")).payload;
  set_payload("servers[1]", format::pack(1, format::high32(p)));
  EXPECT_TRUE(refused_after_rechecksum("node"));
}

TEST_F(HostileSegment, ParentAfterChild_Refused) {
  const std::uint32_t n = node_of("database.port");
  node(n).parent = n;
  EXPECT_TRUE(refused_after_rechecksum("parent after child"));
}

TEST_F(HostileSegment, ParentNotContainingChild_Refused) {
  // servers[0].host claims database as its parent.
  node(node_of("servers[0].host")).parent = node_of("database");
  EXPECT_TRUE(refused_after_rechecksum("outside its parent"));
}

TEST_F(HostileSegment, ParentIsScalar_Refused) {
  node(node_of("servers[0].host")).parent = node_of("database.host");
  EXPECT_TRUE(refused_after_rechecksum("outside its parent"));
}

TEST_F(HostileSegment, OverlappingChildRanges_Refused) {
  // database's range widened over the next nodes, which belong to another
  // parent: every node still lies in its own parent's range, but walking
  // the tree would visit nodes twice (a DAG, exponential to walk).
  const std::uint32_t db = node_of("database");
  const std::uint64_t p = node(db).payload;
  ASSERT_LT(format::low32(p) + format::high32(p) + 1, hdr().node_count);
  set_payload("database", format::pack(format::low32(p), format::high32(p) + 1));
  EXPECT_TRUE(refused_after_rechecksum("overlap"));
}

// ---- index -----------------------------------------------------------------------------

TEST_F(HostileSegment, SlotPointingAtRoot_Refused) {
  slot(slot_of("database.port")).node = 0;
  EXPECT_TRUE(refused_after_rechecksum("index slot"));
}

TEST_F(HostileSegment, SlotNodePastEnd_Refused) {
  slot(slot_of("database.port")).node = hdr().node_count;
  EXPECT_TRUE(refused_after_rechecksum("index slot"));
}

TEST_F(HostileSegment, SlotTypeDisagrees_Refused) {
  slot(slot_of("database.port")).type = static_cast<std::uint8_t>(Type::kString);
  EXPECT_TRUE(refused_after_rechecksum("disagrees"));
}

TEST_F(HostileSegment, SlotPayloadDisagrees_Refused) {
  // A string slot whose payload reaches past the end while its node is fine.
  slot(slot_of("database.host")).payload = format::pack(0, size());
  EXPECT_TRUE(refused_after_rechecksum("disagrees"));
}

TEST_F(HostileSegment, SlotKeyDisagrees_Refused) {
  slot(slot_of("database.port")).key_off = size();
  EXPECT_TRUE(refused_after_rechecksum("disagrees"));
}

TEST_F(HostileSegment, SlotKeyLengthDisagrees_Refused) {
  slot(slot_of("database.port")).key_len += 100;
  EXPECT_TRUE(refused_after_rechecksum("disagrees"));
}

TEST_F(HostileSegment, NoEmptySlot_Refused) {
  // Fill every empty slot with a copy of a used one: a probe for a missing
  // key would never meet an empty slot.
  const IndexSlot used = slot(slot_of("database.port"));
  for (std::uint32_t i = 0; i < hdr().index_capacity; ++i) {
    if (slot(i).hash == 0) slot(i) = used;
  }
  EXPECT_TRUE(refused_after_rechecksum("index holds"));
}

TEST_F(HostileSegment, SlotMissing_Refused) {
  slot(slot_of("database.port")) = IndexSlot{};
  EXPECT_TRUE(refused_after_rechecksum("index holds"));
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
  ASSERT_GT(meta().changed_count, 2u);
  at<ChangedKey>(meta().changed_off + 2 * sizeof(ChangedKey)).key_off = size();
  EXPECT_TRUE(refused_after_rechecksum("changed key 2"));
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
// key, name, string and children, every slot, every lookup, the metadata,
// a walk of the tree and a diff. Out-of-bounds reads fail under ASan; the
// counts catch a walk that is not a tree.
void touch_everything(const SegmentView& v, const SegmentView& other) {
  std::uint64_t sink = 0;
  for (std::uint32_t i = 0; i < v.node_count(); ++i) {
    const Node& n = v.node(i);
    const std::string_view key = v.key(n);
    sink += key.empty() ? 0 : static_cast<unsigned char>(key.back());
    sink += v.name(n).size() + v.source_name(n.source).size();
    if (static_cast<Type>(n.type) == Type::kString) {
      const std::string_view s = v.string_value(n.payload);
      sink += s.empty() ? 0 : static_cast<unsigned char>(s.back());
    }
    for (const Node& c : v.children(n)) sink += c.type;
    if (i > 0) {
      const IndexSlot* s = v.find(key);
      if (s != nullptr) sink += v.node(s->node).type;
    }
  }
  for (const IndexSlot& s : v.slots()) sink += s.hash ? v.node(s.node).type : 0;
  for (const StrRef& s : v.sources()) sink += v.str(s.off, s.len).size();
  for (const ChangedKey& c : v.changed()) sink += v.str(c.key_off, c.key_len).size();
  sink += v.trigger().size();
  sink += v.find("database.port") != nullptr;
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
  SegmentView good_view;
  ASSERT_EQ(SegmentView::open(good_.data(), good_.size(), 0, &good_view), Errc::kOk);
  const std::uint32_t structure_end = hdr().strings_off;  // header, nodes, index, meta
  std::mt19937_64 rng(0x5eed5eedu);
  int accepted = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<std::byte> fuzzed = good_;  // exactly segment_size bytes
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the structure, where a flip means an offset, count or type.
      const std::uint64_t range = (rng() % 4 == 0) ? fuzzed.size() : structure_end;
      const std::size_t pos = rng() % range;
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
    auto* h = reinterpret_cast<SegmentHeader*>(fuzzed.data());
    if (h->segment_size >= format::kChecksumFrom && h->segment_size <= fuzzed.size()) {
      h->checksum = XXH3_64bits(fuzzed.data() + format::kChecksumFrom,
                                h->segment_size - format::kChecksumFrom);
    }
    SegmentView v;
    SegmentError why;
    const Errc e = SegmentView::open(fuzzed.data(), fuzzed.size(), 0, &v, &why);
    if (e == Errc::kOk) {
      ++accepted;
      touch_everything(v, good_view);
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
  // Flips in string bytes, origins and hashes are harmless: some pass.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace shmconf
