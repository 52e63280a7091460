// tests/client/golden_test.cpp — a committed segment, so that any change to
// the bytes the builder writes (a format change) fails a test.
//
// tests/data/golden/example-v3.seg is built from tests/data/golden/example.json
// with version 7, publish_time_ns 1700000000000000000, trigger "golden",
// sources {"file:example.json"} and no previous version. The tests decode
// it field by field with a decoder written from docs/FORMAT.md alone (byte
// reads at the documented offsets, nothing from format.hpp's structs), check
// SegmentView agrees with that decoder, and rebuild it from the JSON and
// compare byte for byte.
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
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"

namespace shmconf {
namespace {

using format::Node;
using format::Type;

constexpr std::uint64_t kGoldenVersion = 7;
constexpr std::uint64_t kGoldenTime = 1'700'000'000'000'000'000ull;
// FORMAT.md §10 gives this number so that a reader in another language can
// hard-code it; format.hpp computes it. They must agree.
constexpr std::uint32_t kDocumentedLayoutSignature = 0x3b55ba98u;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::byte> to_bytes(const std::string& text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
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
  const std::string path = test::data_path("golden/example-v3.seg");
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
  return to_bytes(read_file(path));
}

// ---- an independent decoder, from docs/FORMAT.md alone ------------------------------
//
// Little-endian integers assembled byte by byte at the offsets FORMAT.md
// documents. It shares nothing with format.hpp's structs or SegmentView, so
// a layout change that the writer and the reader agree on still fails here.

class Raw {
 public:
  explicit Raw(const std::vector<std::byte>& b) : b_(b) {}

  std::uint64_t le(std::uint64_t off, int n) const {
    if (off + static_cast<std::uint64_t>(n) > b_.size()) {
      ADD_FAILURE() << "read of " << n << " bytes at " << off << " past the end";
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b_[off + i]);
    return v;
  }
  std::uint16_t u16(std::uint64_t off) const { return static_cast<std::uint16_t>(le(off, 2)); }
  std::uint32_t u32(std::uint64_t off) const { return static_cast<std::uint32_t>(le(off, 4)); }
  std::uint64_t u64(std::uint64_t off) const { return le(off, 8); }
  std::uint8_t u8(std::uint64_t off) const { return static_cast<std::uint8_t>(le(off, 1)); }
  std::string str(std::uint64_t off, std::uint64_t len) const {
    if (off + len > b_.size()) {
      ADD_FAILURE() << "string at " << off << " of " << len << " bytes past the end";
      return {};
    }
    return {reinterpret_cast<const char*>(b_.data()) + off, len};
  }

 private:
  const std::vector<std::byte>& b_;
};

// FORMAT.md §4.1.
struct RawHeader {
  std::uint64_t magic, segment_size, checksum, version, publish_time_ns, content_hash, hash_seed,
      prev_version, reserved2;
  std::uint32_t format_version, layout_signature, header_size, flags, node_count, index_capacity,
      nodes_off, index_off, strings_off, strings_size, meta_off, meta_size, origins_off, reserved1;

  explicit RawHeader(const Raw& r)
      : magic(r.u64(0)),
        segment_size(r.u64(24)),
        checksum(r.u64(32)),
        version(r.u64(40)),
        publish_time_ns(r.u64(48)),
        content_hash(r.u64(56)),
        hash_seed(r.u64(96)),
        prev_version(r.u64(104)),
        reserved2(r.u64(120)),
        format_version(r.u32(8)),
        layout_signature(r.u32(12)),
        header_size(r.u32(16)),
        flags(r.u32(20)),
        node_count(r.u32(64)),
        index_capacity(r.u32(68)),
        nodes_off(r.u32(72)),
        index_off(r.u32(76)),
        strings_off(r.u32(80)),
        strings_size(r.u32(84)),
        meta_off(r.u32(88)),
        meta_size(r.u32(92)),
        origins_off(r.u32(112)),
        reserved1(r.u32(116)) {}
};

// FORMAT.md §4.2 (Node, 16 bytes) and §4.3 (Origin, 8 bytes), one entry
// per node, with the name resolved (§4.7) and the full key path formed as
// §5.1 says: from the root down, through the child ranges.
struct RawNode {
  std::uint64_t payload;
  std::uint32_t name_off;
  std::uint32_t bits;
  std::uint32_t line;
  std::uint16_t column;
  std::uint16_t source;
  std::string name;  // "" when name_off is 0
  std::string key;   // the full path
  std::uint8_t type() const { return bits & 7u; }
  bool sensitive() const { return (bits & 8u) != 0; }
  std::uint32_t parent() const { return bits >> 4; }
  std::uint32_t first() const { return static_cast<std::uint32_t>(payload); }
  std::uint32_t count() const { return static_cast<std::uint32_t>(payload >> 32); }
  bool container() const { return type() == 5 || type() == 6; }
};

struct RawSegment {
  explicit RawSegment(const std::vector<std::byte>& bytes) : r(bytes), h(r) {
    for (std::uint32_t i = 0; i < h.node_count; ++i) {
      RawNode n{};
      const std::uint64_t at = h.nodes_off + 16ull * i;
      n.payload = r.u64(at);
      n.name_off = r.u32(at + 8);
      n.bits = r.u32(at + 12);
      const std::uint64_t o = h.origins_off + 8ull * i;
      n.line = r.u32(o);
      n.column = r.u16(o + 4);
      n.source = r.u16(o + 6);
      if (n.name_off != 0) n.name = name_at(n.name_off);
      nodes.push_back(n);
    }
    // Paths top-down: a container's children are nodes [first, first + count).
    for (std::uint32_t i = 0; i < h.node_count; ++i) {
      const RawNode& p = nodes[i];
      if (!p.container()) continue;
      for (std::uint32_t k = 0; k < p.count(); ++k) {
        RawNode& c = nodes.at(p.first() + k);
        EXPECT_EQ(c.parent(), i) << "node " << p.first() + k;
        if (p.type() == 5) {
          c.key = p.key + "[" + std::to_string(k) + "]";
        } else {
          c.key = (i == 0 ? "" : p.key + ".") + c.name;
        }
      }
    }
  }

  // A name (FORMAT.md §4.7): u16 length at off - 2, the bytes, a NUL.
  std::string name_at(std::uint32_t off) const {
    const std::uint16_t len = r.u16(off - 2);
    EXPECT_EQ(r.u8(off + len), 0u) << "name at " << off << " without its NUL";
    return r.str(off, len);
  }

  Raw r;
  RawHeader h;
  std::vector<RawNode> nodes;
};

class Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = golden_bytes();
    ASSERT_FALSE(bytes_.empty()) << "missing tests/data/golden/example-v3.seg";
    SegmentError why;
    ASSERT_EQ(SegmentView::open(bytes_.data(), bytes_.size(), 0, &view_, &why), Errc::kOk)
        << why.message;
    raw_ = std::make_unique<RawSegment>(bytes_);
  }
  const Node& at(std::string_view key) {
    const Node* n = view_.find(key);
    EXPECT_NE(n, nullptr) << key;
    static const Node kNone{};
    return n ? *n : kNone;
  }
  std::vector<std::byte> bytes_;
  SegmentView view_;
  std::unique_ptr<RawSegment> raw_;
};

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
