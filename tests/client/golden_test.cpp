// tests/client/golden_test.cpp — a committed segment, so that any change to
// the bytes the builder writes (a format change) fails a test.
//
// tests/data/golden/example-v3.seg is built from tests/data/golden/example.json
// with version 7, publish_time_ns 1700000000000000000, trigger "golden",
// sources {"file:example.json"} and no previous version. The tests decode
// it field by field with a decoder written from docs/FORMAT.md alone (byte
// reads at the documented offsets, nothing from format.hpp's structs), check
// SegmentView agrees with that decoder, and rebuild it from the JSON and
// compare byte for byte. This file checks the header, nodes, index, strings
// and metadata against the decoder (golden_decoder.hpp);
// golden_view_test.cpp checks SegmentView and the rebuilt bytes.
//
// tests/data/golden/example-v1.seg and example-v2.seg are the same content
// as the version 1 and 2 builders wrote it. They are never regenerated:
// they are the older segments a v3 reader must refuse with Errc::kVersion
// (hostile_segment_test.cpp).
//
// A deliberate format change bumps format::kFormatVersion (and FORMAT.md);
// then regenerate the file and commit it with the change:
//
//   SHMCONF_REGENERATE_GOLDEN=1 <build-dir>/tests/client_tests --gtest_filter='Golden*'
//
// which writes the segment before the tests read it. Never regenerate to
// make an unexplained mismatch go away: that mismatch is what this catches.
#include "client/golden_decoder.hpp"

namespace shmconf {
namespace {

using namespace golden;
using format::Node;
using format::Type;  // not shmconf::Type

// ---- header -----------------------------------------------------------------------------

TEST_F(Golden, Header_EveryFieldAtItsDocumentedOffset) {
  const RawHeader& h = raw_->h;
  const std::uint32_t n = 40;  // example.json has 39 values besides the root
  EXPECT_EQ(h.magic, 0x01474553434D4853ull);
  EXPECT_EQ(raw_->r.str(0, 8), std::string("SHMCSEG\x01", 8));
  EXPECT_EQ(h.format_version, 3u);
  EXPECT_EQ(h.layout_signature, kDocumentedLayoutSignature);
  EXPECT_EQ(h.header_size, 128u);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.segment_size, bytes_.size());
  EXPECT_EQ(h.segment_size % 8, 0u);
  EXPECT_EQ(h.version, kGoldenVersion);
  EXPECT_EQ(h.publish_time_ns, kGoldenTime);
  EXPECT_EQ(h.content_hash, daemon::content_hash(golden_tree()));
  EXPECT_EQ(h.node_count, n);
  EXPECT_EQ(h.index_capacity, (n - 1) + (n - 1) / 4 + 1);  // the writer's load factor
  EXPECT_EQ(h.hash_seed, 0u);
  EXPECT_EQ(h.prev_version, 0u);
  EXPECT_EQ(h.reserved1, 0u);
  EXPECT_EQ(h.reserved2, 0u);
  // The writer's section order (FORMAT.md §4): readers must not rely on it,
  // the golden bytes do.
  EXPECT_EQ(h.nodes_off, 128u);
  EXPECT_EQ(h.origins_off, h.nodes_off + 16 * n);
  EXPECT_EQ(h.index_off, h.origins_off + 8 * n);
  EXPECT_EQ(h.meta_off, h.index_off + (4 * h.index_capacity + 7) / 8 * 8);
  EXPECT_EQ(h.meta_size, 32u + 8u);  // MetaHeader, one StrRef, no ChangedKey
  EXPECT_EQ(h.strings_off, h.meta_off + h.meta_size);
  EXPECT_EQ(h.strings_size % 8, 0u);
  EXPECT_EQ(h.strings_off + h.strings_size, h.segment_size);
}

TEST_F(Golden, Header_StructMirrorsDocumentedOffsets) {
  // format.hpp's SegmentHeader reads the same numbers as the byte decoder.
  const auto& s = view_.header();
  const RawHeader& h = raw_->h;
  EXPECT_EQ(s.magic, h.magic);
  EXPECT_EQ(s.format_version, h.format_version);
  EXPECT_EQ(s.layout_signature, h.layout_signature);
  EXPECT_EQ(s.layout_signature, format::kLayoutSignature);
  EXPECT_EQ(s.header_size, h.header_size);
  EXPECT_EQ(s.segment_size, h.segment_size);
  EXPECT_EQ(s.checksum, h.checksum);
  EXPECT_EQ(s.version, h.version);
  EXPECT_EQ(s.content_hash, h.content_hash);
  EXPECT_EQ(s.node_count, h.node_count);
  EXPECT_EQ(s.index_capacity, h.index_capacity);
  EXPECT_EQ(s.nodes_off, h.nodes_off);
  EXPECT_EQ(s.index_off, h.index_off);
  EXPECT_EQ(s.strings_off, h.strings_off);
  EXPECT_EQ(s.strings_size, h.strings_size);
  EXPECT_EQ(s.meta_off, h.meta_off);
  EXPECT_EQ(s.meta_size, h.meta_size);
  EXPECT_EQ(s.origins_off, h.origins_off);
  EXPECT_EQ(format::kFormatVersion, 3u);
  EXPECT_EQ(format::kLayoutSignature, kDocumentedLayoutSignature);
}

TEST_F(Golden, Checksum_MatchesXxh3OfBody) {
  const RawHeader& h = raw_->h;
  EXPECT_EQ(h.checksum, XXH3_64bits(bytes_.data() + 40, h.segment_size - 40));
}

// ---- nodes and origins ------------------------------------------------------------------

struct ExpectedNode {
  const char* key;
  std::uint32_t parent;
  Type type;
  std::uint32_t line;
  std::uint16_t column;
};

// Node order (FORMAT.md §4.2): the root; the root's children as one block,
// sorted bytewise; then, depth first, each container's block of children
// followed by their subtrees. Lines and columns are where each value starts
// in example.json.
constexpr ExpectedNode kNodes[] = {
    // clang-format off
    {"", 0, Type::kObject, 1, 1},
    {"database", 0, Type::kObject, 15, 15},
    {"empty_list", 0, Type::kArray, 25, 17},
    {"empty_map", 0, Type::kObject, 26, 16},
    {"matrix", 0, Type::kArray, 24, 13},
    {"servers", 0, Type::kArray, 20, 14},
    {"service", 0, Type::kObject, 2, 14},
    {"database.host", 1, Type::kString, 16, 13},
    {"database.pool", 1, Type::kObject, 18, 13},
    {"database.port", 1, Type::kInt, 17, 13},
    {"database.pool.max_size", 8, Type::kInt, 18, 27},
    {"database.pool.timeout_s", 8, Type::kDouble, 18, 44},
    {"matrix[0]", 4, Type::kArray, 24, 14},
    {"matrix[1]", 4, Type::kArray, 24, 22},
    {"matrix[0][0]", 12, Type::kInt, 24, 15},
    {"matrix[0][1]", 12, Type::kInt, 24, 18},
    {"matrix[1][0]", 13, Type::kDouble, 24, 23},
    {"matrix[1][1]", 13, Type::kString, 24, 28},
    {"matrix[1][2]", 13, Type::kNull, 24, 33},
    {"matrix[1][3]", 13, Type::kBool, 24, 39},
    {"servers[0]", 5, Type::kObject, 21, 5},
    {"servers[1]", 5, Type::kObject, 22, 5},
    {"servers[0].host", 20, Type::kString, 21, 15},
    {"servers[0].port", 20, Type::kInt, 21, 36},
    {"servers[1].host", 21, Type::kString, 22, 15},
    {"servers[1].port", 21, Type::kInt, 22, 36},
    {"servers[1].tags", 21, Type::kArray, 22, 50},
    {"servers[1].tags[0]", 26, Type::kString, 22, 51},
    {"servers[1].tags[1]", 26, Type::kString, 22, 59},
    {"service.big", 6, Type::kDouble, 10, 12},
    {"service.debug", 6, Type::kBool, 5, 14},
    {"service.empty", 6, Type::kString, 12, 14},
    {"service.enabled", 6, Type::kBool, 4, 16},
    {"service.greeting", 6, Type::kString, 11, 17},
    {"service.max_int", 6, Type::kInt, 7, 16},
    {"service.min_int", 6, Type::kInt, 8, 16},
    {"service.name", 6, Type::kString, 3, 13},
    {"service.negative_zero", 6, Type::kDouble, 9, 22},
    {"service.nothing", 6, Type::kNull, 13, 16},
    {"service.weight", 6, Type::kDouble, 6, 15},
    // clang-format on
};

TEST_F(Golden, Nodes_NamesParentsTypesAndOrigins) {
  ASSERT_EQ(raw_->nodes.size(), std::size(kNodes));
  for (std::size_t i = 0; i < std::size(kNodes); ++i) {
    const RawNode& n = raw_->nodes[i];
    const ExpectedNode& want = kNodes[i];
    SCOPED_TRACE("node " + std::to_string(i) + " " + want.key);
    EXPECT_EQ(n.key, want.key);
    EXPECT_EQ(n.parent(), want.parent);
    EXPECT_EQ(n.type(), static_cast<std::uint8_t>(want.type));
    EXPECT_FALSE(n.sensitive());
    EXPECT_EQ(n.line, want.line);
    EXPECT_EQ(n.column, want.column);
    EXPECT_EQ(n.source, 0u);
    // A name exactly for an object's member; the root and array elements
    // have name 0.
    const bool member = i != 0 && raw_->nodes[n.parent()].type() == 6;
    EXPECT_EQ(n.name_off != 0, member);
    if (member) {
      EXPECT_GE(n.name_off, raw_->h.strings_off + 2);
      EXPECT_LT(n.name_off, raw_->h.strings_off + raw_->h.strings_size);
      EXPECT_FALSE(n.name.empty());
    }
    EXPECT_LT(n.parent(), std::max<std::size_t>(i, 1));
  }
}

TEST_F(Golden, Nodes_ChildrenContiguousAndObjectsSortedBytewise) {
  std::uint64_t children = 0;
  for (std::uint32_t i = 0; i < raw_->nodes.size(); ++i) {
    const RawNode& n = raw_->nodes[i];
    if (!n.container()) continue;
    children += n.count();
    if (n.count() == 0) {
      EXPECT_EQ(n.payload, 0u) << n.key;  // an empty container's payload
      continue;
    }
    EXPECT_GT(n.first(), i) << n.key;
    for (std::uint32_t k = 1; n.type() == 6 && k < n.count(); ++k) {
      EXPECT_LT(raw_->nodes[n.first() + k - 1].name, raw_->nodes[n.first() + k].name) << n.key;
    }
  }
  EXPECT_EQ(children, raw_->nodes.size() - 1);
}

TEST_F(Golden, Scalars_PayloadsDecoded) {
  auto raw = [&](std::string_view key) -> const RawNode& {
    for (const RawNode& n : raw_->nodes) {
      if (n.key == key) return n;
    }
    ADD_FAILURE() << "no node " << key;
    return raw_->nodes[0];
  };
  auto string_of = [&](std::string_view key) {
    const RawNode& n = raw(key);
    EXPECT_EQ(n.type(), 4u) << key;
    // The bytes, then a NUL the length does not count.
    EXPECT_EQ(raw_->r.u8(n.first() + n.count()), 0u) << key;
    return raw_->r.str(n.first(), n.count());
  };
  EXPECT_EQ(string_of("service.name"), "billing");
  EXPECT_EQ(raw("service.enabled").payload, 1u);
  EXPECT_EQ(raw("service.debug").payload, 0u);
  EXPECT_EQ(std::bit_cast<double>(raw("service.weight").payload), 0.75);
  EXPECT_EQ(static_cast<std::int64_t>(raw("service.max_int").payload),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(static_cast<std::int64_t>(raw("service.min_int").payload),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(raw("service.negative_zero").payload, 0x8000000000000000ull);
  EXPECT_EQ(std::bit_cast<double>(raw("service.big").payload), 1e308);
  EXPECT_EQ(string_of("service.greeting"), "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C");
  EXPECT_EQ(string_of("service.empty"), "");
  EXPECT_EQ(raw("service.nothing").payload, 0u);
  EXPECT_EQ(static_cast<std::int64_t>(raw("database.port").payload), 5432);
  EXPECT_EQ(std::bit_cast<double>(raw("database.pool.timeout_s").payload), 1.5);
  EXPECT_EQ(string_of("servers[1].tags[1]"), "canary");
  EXPECT_EQ(string_of("matrix[1][1]"), "x");
  EXPECT_EQ(raw("matrix[1][3]").payload, 1u);
  EXPECT_EQ(raw("empty_list").payload, 0u);
  EXPECT_EQ(raw("empty_map").payload, 0u);
}

// ---- index ------------------------------------------------------------------------------

TEST_F(Golden, Slots_TagHomeAndProbeRunPerFormatMd) {
  const RawHeader& h = raw_->h;
  const std::uint32_t cap = h.index_capacity;
  // §5.3: one u32 word per slot; 0 = empty, else node (low 25 bits) and tag
  // (high 7 bits).
  std::vector<std::uint32_t> words(cap);
  for (std::uint32_t s = 0; s < cap; ++s) words[s] = raw_->r.u32(h.index_off + 4ull * s);
  std::set<std::uint32_t> seen;
  for (std::uint32_t s = 0; s < cap; ++s) {
    if (words[s] == 0) continue;
    const std::uint32_t i = words[s] & 0x1FFFFFFu;
    ASSERT_GE(i, 1u);
    ASSERT_LT(i, h.node_count);
    EXPECT_TRUE(seen.insert(i).second) << "node " << i << " has two slots";
    const std::string& key = raw_->nodes[i].key;
    // §5.2: XXH3-64 of the path with hash_seed, 0 read as 1; tag = its low
    // 7 bits.
    std::uint64_t hash = XXH3_64bits_withSeed(key.data(), key.size(), h.hash_seed);
    if (hash == 0) hash = 1;
    EXPECT_EQ(words[s] >> 25, static_cast<std::uint32_t>(hash) & 0x7Fu) << key;
    EXPECT_EQ(hash, key_hash(key, 0)) << key;
    // §5.3: home = high 64 bits of hash * capacity, then linear probing:
    // every slot from home up to this one is taken.
    const auto home =
        static_cast<std::uint32_t>((static_cast<unsigned __int128>(hash) * cap) >> 64);
    EXPECT_EQ(home, format::home_slot(hash, cap));
    for (std::uint32_t j = home; j != s; j = (j + 1) % cap) {
      EXPECT_NE(words[j], 0u) << key << ": empty slot " << j << " before its slot " << s;
    }
  }
  EXPECT_EQ(seen.size(), h.node_count - 1u);  // every node but the root
  EXPECT_LT(seen.size(), cap);                // at least one empty slot
}

// ---- strings ----------------------------------------------------------------------------

TEST_F(Golden, StringPool_EveryByteAccountedFor) {
  // Every pool entry: a name ([u16 length][bytes][NUL]), a string value,
  // a source, the trigger ([bytes][NUL]). Shared entries count once; the
  // entries must tile the pool from its start, then zero padding (< 8).
  const RawHeader& h = raw_->h;
  std::map<std::uint64_t, std::uint64_t> entries;  // start -> end
  auto add = [&](std::uint64_t start, std::uint64_t end, const std::string& what) {
    auto [it, fresh] = entries.emplace(start, end);
    EXPECT_TRUE(fresh || it->second == end) << what << " overlaps another entry at " << start;
  };
  for (const RawNode& n : raw_->nodes) {
    if (n.name_off != 0) add(n.name_off - 2, n.name_off + n.name.size() + 1, "name " + n.name);
    if (n.type() == 4) add(n.first(), std::uint64_t{n.first()} + n.count() + 1, "value " + n.key);
  }
  const std::uint32_t sources_off = raw_->r.u32(h.meta_off + 4);
  for (std::uint32_t i = 0; i < raw_->r.u32(h.meta_off); ++i) {
    const std::uint32_t off = raw_->r.u32(sources_off + 8 * i);
    add(off, std::uint64_t{off} + raw_->r.u32(sources_off + 8 * i + 4) + 1, "source");
  }
  const std::uint32_t trigger_off = raw_->r.u32(h.meta_off + 16);
  add(trigger_off, std::uint64_t{trigger_off} + raw_->r.u32(h.meta_off + 20) + 1, "trigger");

  std::uint64_t cur = h.strings_off;
  for (const auto& [start, end] : entries) {
    EXPECT_EQ(start, cur) << "gap or overlap in the pool";
    EXPECT_EQ(raw_->r.u8(end - 1), 0u) << "entry at " << start << " without its NUL";
    cur = end;
  }
  const std::uint64_t pool_end = std::uint64_t{h.strings_off} + h.strings_size;
  EXPECT_LE(cur, pool_end);
  EXPECT_LT(pool_end - cur, 8u);
  for (std::uint64_t p = cur; p < pool_end; ++p) EXPECT_EQ(raw_->r.u8(p), 0u) << p;
}

TEST_F(Golden, Names_InternedOncePerDistinctName) {
  std::map<std::string, std::set<std::uint32_t>> offsets;
  std::map<std::string, int> users;
  for (const RawNode& n : raw_->nodes) {
    if (n.name_off == 0) continue;
    offsets[n.name].insert(n.name_off);
    ++users[n.name];
  }
  for (const auto& [name, offs] : offsets) EXPECT_EQ(offs.size(), 1u) << name;
  // Shared by several members: stored once.
  EXPECT_EQ(users["host"], 3);  // database.host, servers[0].host, servers[1].host
  EXPECT_EQ(users["port"], 3);
  EXPECT_EQ(offsets.size(), 23u);
}

TEST_F(Golden, StringValues_InternedAndSeparateFromNames) {
  std::map<std::string, std::set<std::uint32_t>> offsets;
  std::set<std::uint32_t> name_offs;
  for (const RawNode& n : raw_->nodes) {
    if (n.name_off != 0) name_offs.insert(n.name_off);
    if (n.type() == 4) offsets[raw_->r.str(n.first(), n.count())].insert(n.first());
  }
  for (const auto& [text, offs] : offsets) {
    EXPECT_EQ(offs.size(), 1u) << text;
    // A value never points at a name: names carry a length prefix.
    EXPECT_EQ(name_offs.count(*offs.begin()), 0u) << text;
  }
}

// ---- metadata ---------------------------------------------------------------------------

TEST_F(Golden, Metadata_SourcesTriggerAndEmptyChangeList) {
  const RawHeader& h = raw_->h;
  const Raw& r = raw_->r;
  EXPECT_EQ(r.u32(h.meta_off + 0), 1u);                // source_count
  EXPECT_EQ(r.u32(h.meta_off + 4), h.meta_off + 32);   // sources_off
  EXPECT_EQ(r.u32(h.meta_off + 8), 0u);                // changed_count: first version
  EXPECT_EQ(r.u32(h.meta_off + 12), h.meta_off + 40);  // changed_off: where it would start
  EXPECT_EQ(r.u64(h.meta_off + 24), 0u);               // reserved
  const std::uint32_t src = r.u32(h.meta_off + 4);
  EXPECT_EQ(r.str(r.u32(src), r.u32(src + 4)), "file:example.json");
  EXPECT_EQ(r.str(r.u32(h.meta_off + 16), r.u32(h.meta_off + 20)), "golden");

  EXPECT_EQ(view_.trigger(), "golden");
  ASSERT_EQ(view_.sources().size(), 1u);
  EXPECT_EQ(view_.source_name(0), "file:example.json");
  EXPECT_TRUE(view_.changed().empty());
  const Node& port = at("database.port");
  EXPECT_EQ(view_.source_name(view_.origin(port).source), "file:example.json");
  EXPECT_EQ(view_.origin(port).line, 17u);
}

}  // namespace
}  // namespace shmconf
