// tests/client/hostile_nodes_test.cpp — SegmentView::open against hostile
// nodes, names, index slots, origins and metadata, and random byte flips
// with a valid checksum (the fixture is in hostile_segment_fixture.hpp).
// Every refusal must name the right Errc; nothing may read outside the
// buffer (SHMCONF_SANITIZE=address).
#include "client/hostile_segment_fixture.hpp"

namespace shmconf {
namespace {

using namespace hostile;
using format::ChangedKey;  // not shmconf::ChangedKey
using format::Origin;      // not shmconf::Origin

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
