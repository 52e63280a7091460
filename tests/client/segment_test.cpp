// tests/client/segment_test.cpp — segments built in memory by the daemon's
// builder and read back through SegmentView: every type, names and the
// string pool, the key index and the parent walk that verifies a lookup,
// key_to(), the tree, metadata, provenance and diff_segments.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "client/test_util.hpp"

namespace shmconf {
namespace {

using format::Change;
using format::IndexSlot;
using format::Node;
using format::Type;
using test::BuildOptions;
using test::Built;

constexpr std::string_view kConfig = R"({
  "database": {"host": "db.internal", "port": 5432, "pool": {"max_size": 20}},
  "servers": [
    {"host": "a", "port": 1},
    {"host": "b", "port": 2},
    {"host": "c", "port": 3}
  ],
  "flags": {"zeta": true, "alpha": false, "Mid": null, "beta": 1.5},
  "empty_list": [],
  "empty_map": {}
})";

// Arrays of arrays, indices of two digits, objects in arrays and arrays in
// objects, non-ASCII names.
constexpr std::string_view kShapes = R"({
  "a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, {"k": [[], [1, [2, {"deep": "x"}]]]}],
  "m": [[1, 2], [3, [4, [5]]]],
  "k\u00e9y": {"\u4e16": {"x": null}},
  "o": {"list": [{"a": 1}, {"a": 2}], "e": {}}
})";

// The node for `key`, or nullptr; checks that a lookup with the hash
// computed up front agrees.
const Node* lookup(const SegmentView& v, std::string_view key) {
  const Node* n = v.find(key);
  EXPECT_EQ(v.find(key, key_hash(key, v.seed())), n) << key;
  return n;
}

Type type_of(const Node& n) { return format::node_type(n); }

std::vector<std::string> child_names(const SegmentView& v, std::string_view key) {
  std::vector<std::string> out;
  const Node* n = key.empty() ? &v.root() : lookup(v, key);
  if (n == nullptr) return out;
  for (const Node& c : v.children(*n)) out.emplace_back(v.name(c));
  return out;
}

// A segment built from a Value tree (not JSON text) and its view.
struct BuiltValue {
  explicit BuiltValue(const daemon::Value& root, const BuildOptions& o = {})
      : bytes(test::build(root, o)) {
    SegmentError why;
    EXPECT_EQ(SegmentView::open(bytes.data(), bytes.size(), 0, &view, &why), Errc::kOk)
        << why.message;
  }
  std::vector<std::byte> bytes;
  SegmentView view;
};

// ---- every type -----------------------------------------------------------------

TEST(SegmentRoundTrip, Null_TypeNullPayloadZero) {
  Built b(R"({"n": null})");
  const Node* n = lookup(b.view, "n");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(type_of(*n), Type::kNull);
  EXPECT_EQ(n->payload, 0u);
}

TEST(SegmentRoundTrip, Bool_BothValuesKept) {
  Built b(R"({"t": true, "f": false})");
  ASSERT_NE(lookup(b.view, "t"), nullptr);
  ASSERT_NE(lookup(b.view, "f"), nullptr);
  EXPECT_EQ(type_of(*lookup(b.view, "t")), Type::kBool);
  EXPECT_EQ(lookup(b.view, "t")->payload, 1u);
  EXPECT_EQ(lookup(b.view, "f")->payload, 0u);
}

TEST(SegmentRoundTrip, IntExtremes_ExactValues) {
  Built b(R"({"min": -9223372036854775808, "max": 9223372036854775807, "zero": 0, "m1": -1})");
  const std::pair<const char*, std::int64_t> cases[] = {
      {"min", std::numeric_limits<std::int64_t>::min()},
      {"max", std::numeric_limits<std::int64_t>::max()},
      {"zero", 0},
      {"m1", -1}};
  for (const auto& [key, want] : cases) {
    const Node* n = lookup(b.view, key);
    ASSERT_NE(n, nullptr) << key;
    EXPECT_EQ(type_of(*n), Type::kInt) << key;
    EXPECT_EQ(static_cast<std::int64_t>(n->payload), want) << key;
  }
}

TEST(SegmentRoundTrip, NegativeZero_SignKept) {
  Built b(R"({"z": -0.0})");
  const Node* n = lookup(b.view, "z");
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(type_of(*n), Type::kDouble);
  const double d = std::bit_cast<double>(n->payload);
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(std::signbit(d));
}

TEST(SegmentRoundTrip, Doubles_BitsExact) {
  Built b(R"({"big": 1e308, "tiny": 5e-324, "tenth": 0.1, "neg": -2.5})");
  const std::pair<const char*, double> cases[] = {
      {"big", 1e308}, {"tiny", 5e-324}, {"tenth", 0.1}, {"neg", -2.5}};
  for (const auto& [key, want] : cases) {
    const Node* n = lookup(b.view, key);
    ASSERT_NE(n, nullptr) << key;
    EXPECT_EQ(type_of(*n), Type::kDouble) << key;
    EXPECT_EQ(n->payload, std::bit_cast<std::uint64_t>(want)) << key;
  }
}

TEST(SegmentRoundTrip, EmptyString_LengthZero) {
  Built b(R"({"s": ""})");
  const Node* n = lookup(b.view, "s");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(type_of(*n), Type::kString);
  EXPECT_EQ(b.view.string_value(n->payload), "");
}

TEST(SegmentRoundTrip, Utf8String_BytesExact) {
  Built b(R"({"s": "h\u00e9llo w\u00f6rld \u4e16\u754c \ud83d\ude00", "k\u00e9y": 1})");
  const Node* n = lookup(b.view, "s");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.string_value(n->payload),
            "h\xC3\xA9llo w\xC3\xB6rld \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80");
  EXPECT_NE(lookup(b.view, "k\xC3\xA9y"), nullptr);
}

TEST(SegmentRoundTrip, EmbeddedNul_LengthCountsIt) {
  // JSON allows U+0000 in strings; the length, not the terminator, is the
  // string's extent.
  Built b(R"({"s": "a\u0000b"})");
  const Node* n = lookup(b.view, "s");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.string_value(n->payload), std::string_view("a\0b", 3));
}

TEST(SegmentRoundTrip, Array_ChildrenInIndexOrder) {
  Built b(R"({"a": [10, "x", true, null, 2.5, [1], {"k": 1}]})");
  const Node* a = lookup(b.view, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(type_of(*a), Type::kArray);
  const auto kids = b.view.children(*a);
  ASSERT_EQ(kids.size(), 7u);
  const Type want[] = {Type::kInt,    Type::kString, Type::kBool,  Type::kNull,
                       Type::kDouble, Type::kArray,  Type::kObject};
  for (std::uint32_t i = 0; i < kids.size(); ++i) {
    EXPECT_EQ(type_of(kids[i]), want[i]) << i;
    EXPECT_EQ(b.view.key(kids[i]), "a[" + std::to_string(i) + "]");
    EXPECT_EQ(b.view.array_index(kids[i]), i);
  }
  EXPECT_EQ(static_cast<std::int64_t>(kids[0].payload), 10);
  EXPECT_EQ(b.view.string_value(kids[1].payload), "x");
  ASSERT_NE(lookup(b.view, "a[5][0]"), nullptr);
  EXPECT_EQ(lookup(b.view, "a[5][0]")->payload, 1u);
  EXPECT_NE(lookup(b.view, "a[6].k"), nullptr);
}

TEST(SegmentRoundTrip, Object_NestedValues) {
  Built b(kConfig);
  const Node* port = lookup(b.view, "database.port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(static_cast<std::int64_t>(port->payload), 5432);
  const Node* db = lookup(b.view, "database");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(type_of(*db), Type::kObject);
  EXPECT_EQ(b.view.children(*db).size(), 3u);
}

TEST(SegmentRoundTrip, EmptyContainers_LeavesWithoutChildren) {
  Built b(kConfig);
  const Node* l = lookup(b.view, "empty_list");
  const Node* m = lookup(b.view, "empty_map");
  ASSERT_NE(l, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(type_of(*l), Type::kArray);
  EXPECT_EQ(type_of(*m), Type::kObject);
  EXPECT_EQ(l->payload, 0u);
  EXPECT_EQ(m->payload, 0u);
  EXPECT_TRUE(b.view.children(*l).empty());
  EXPECT_TRUE(b.view.children(*m).empty());
  EXPECT_TRUE(is_leaf(*l));
  EXPECT_TRUE(is_leaf(*m));
  EXPECT_FALSE(is_leaf(*lookup(b.view, "database")));
}

TEST(SegmentRoundTrip, EmptyRoot_OnlyRootNode) {
  Built b("{}");
  EXPECT_EQ(b.view.node_count(), 1u);
  EXPECT_EQ(b.view.header().index_capacity, 1u);
  EXPECT_TRUE(b.view.children(b.view.root()).empty());
  EXPECT_EQ(b.view.find("x"), nullptr);
  EXPECT_EQ(b.view.find(""), nullptr);
}

// ---- names and the string pool --------------------------------------------------------

TEST(SegmentStrings, EveryName_LengthPrefixedAndNulTerminated) {
  Built b(kShapes);
  const auto* base = reinterpret_cast<const unsigned char*>(b.bytes.data());
  const auto& h = b.view.header();
  for (std::uint32_t i = 0; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    const bool member = i != 0 && type_of(b.view.node(format::node_parent(n))) == Type::kObject;
    ASSERT_EQ(n.name != 0, member) << b.view.key(n);
    if (!member) {
      EXPECT_EQ(b.view.name(n), "") << b.view.key(n);
      continue;
    }
    std::uint16_t len;
    std::memcpy(&len, base + n.name - 2, sizeof len);
    EXPECT_GE(n.name, h.strings_off + 2);
    EXPECT_LE(std::uint64_t{n.name} + len + 1, std::uint64_t{h.strings_off} + h.strings_size);
    EXPECT_EQ(len, b.view.name(n).size());
    EXPECT_EQ(base[n.name + len], 0) << b.view.key(n);
    EXPECT_EQ(b.view.name(n).data(), reinterpret_cast<const char*>(base + n.name));
  }
}

TEST(SegmentStrings, EveryStringValue_FollowedByNul) {
  Built b(kConfig);
  const auto* base = reinterpret_cast<const char*>(b.bytes.data());
  for (std::uint32_t i = 0; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    if (type_of(n) == Type::kString) {
      EXPECT_EQ(base[format::low32(n.payload) + format::high32(n.payload)], '\0');
    }
  }
}

TEST(SegmentStrings, RepeatedNames_StoredOnce) {
  Built b(kConfig);
  std::map<std::string_view, std::set<std::uint32_t>> offsets;
  for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    if (n.name != 0) offsets[b.view.name(n)].insert(n.name);
  }
  for (const auto& [name, offs] : offsets) EXPECT_EQ(offs.size(), 1u) << name;
  const Node* h0 = lookup(b.view, "servers[0].host");
  const Node* h2 = lookup(b.view, "servers[2].host");
  const Node* dh = lookup(b.view, "database.host");
  ASSERT_TRUE(h0 && h2 && dh);
  EXPECT_EQ(h0->name, h2->name);
  EXPECT_EQ(h0->name, dh->name);
}

TEST(SegmentStrings, RepeatedShortValues_StoredOnce) {
  Built b(R"({"a": "same", "b": "same", "c": {"d": "same"}, "e": "other"})");
  const Node* a = lookup(b.view, "a");
  const Node* bb = lookup(b.view, "b");
  const Node* d = lookup(b.view, "c.d");
  const Node* e = lookup(b.view, "e");
  ASSERT_TRUE(a && bb && d && e);
  EXPECT_EQ(a->payload, bb->payload);
  EXPECT_EQ(a->payload, d->payload);
  EXPECT_NE(a->payload, e->payload);
  EXPECT_EQ(b.view.string_value(d->payload), "same");
}

TEST(SegmentStrings, RepeatedLongValues_ReadBack) {
  // Long strings may or may not be shared (FORMAT.md: readers must not
  // care); either way each reads back whole.
  const std::string big(5000, 'z');
  Built b(R"({"a": ")" + big + R"(", "b": ")" + big + R"(", "c": ")" + big + R"(y"})");
  EXPECT_EQ(b.view.string_value(lookup(b.view, "a")->payload), big);
  EXPECT_EQ(b.view.string_value(lookup(b.view, "b")->payload), big);
  EXPECT_EQ(b.view.string_value(lookup(b.view, "c")->payload), big + "y");
}

TEST(SegmentStrings, NameEqualToAValue_BothReadBack) {
  // A name carries a length prefix and a value does not: the same text as
  // both is two pool entries, and neither reads the other's bytes.
  Built b(R"({"host": "host", "x": {"port": "host"}, "port": "port"})");
  const Node* host = lookup(b.view, "host");
  const Node* xport = lookup(b.view, "x.port");
  const Node* port = lookup(b.view, "port");
  ASSERT_TRUE(host && xport && port);
  EXPECT_EQ(b.view.name(*host), "host");
  EXPECT_EQ(b.view.string_value(host->payload), "host");
  EXPECT_EQ(b.view.string_value(xport->payload), "host");
  EXPECT_EQ(b.view.string_value(port->payload), "port");
  EXPECT_EQ(xport->name, port->name);
  EXPECT_NE(format::low32(host->payload), host->name);
}

// ---- lookup ------------------------------------------------------------------------------

TEST(SegmentIndex, EveryPath_FoundAtItsNode) {
  for (std::string_view text : {kConfig, kShapes}) {
    Built b(text);
    for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
      const std::string key = b.view.key(b.view.node(i));
      EXPECT_EQ(lookup(b.view, key), &b.view.node(i)) << key;
    }
  }
}

TEST(SegmentIndex, KeyTo_RoundTripEveryNode) {
  for (std::string_view text : {kConfig, kShapes}) {
    Built b(text);
    EXPECT_EQ(b.view.key_to(b.view.root(), nullptr, 0), 0u);
    for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
      const Node& n = b.view.node(i);
      char buf[format::kMaxKeyLength];
      const std::size_t len = b.view.key_to(n, buf, sizeof buf);
      ASSERT_LE(len, sizeof buf);
      const std::string_view key(buf, len);
      EXPECT_EQ(b.view.find(key), &n) << key;
      EXPECT_EQ(b.view.key(n), key);
    }
  }
}

TEST(SegmentIndex, KeyTo_BufferTooSmall_WritesNothing) {
  Built b(kShapes);
  const Node* n = lookup(b.view, "a[11].k[1][1][1].deep");
  ASSERT_NE(n, nullptr);
  const std::size_t want = std::string_view("a[11].k[1][1][1].deep").size();
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}, want - 1}) {
    std::string buf(want + 4, '#');
    EXPECT_EQ(b.view.key_to(*n, buf.data(), cap), want) << cap;
    EXPECT_EQ(buf, std::string(want + 4, '#')) << cap;
  }
  std::string buf(want, '#');
  EXPECT_EQ(b.view.key_to(*n, buf.data(), want), want);
  EXPECT_EQ(buf, "a[11].k[1][1][1].deep");
}

TEST(SegmentIndex, ArrayElementPaths_Found) {
  Built b(kConfig);
  const Node* n = lookup(b.view, "servers[2].host");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.string_value(n->payload), "c");
  EXPECT_EQ(static_cast<std::int64_t>(lookup(b.view, "servers[0].port")->payload), 1);
  EXPECT_NE(lookup(b.view, "servers[0]"), nullptr);
  EXPECT_NE(lookup(b.view, "database.pool.max_size"), nullptr);

  Built s(kShapes);
  EXPECT_EQ(static_cast<std::int64_t>(lookup(s.view, "a[10]")->payload), 10);
  EXPECT_EQ(static_cast<std::int64_t>(lookup(s.view, "a[1]")->payload), 1);
  EXPECT_EQ(s.view.string_value(lookup(s.view, "a[11].k[1][1][1].deep")->payload), "x");
  EXPECT_EQ(static_cast<std::int64_t>(lookup(s.view, "m[1][1][1][0]")->payload), 5);
  EXPECT_EQ(type_of(*lookup(s.view, "k\xC3\xA9y.\xE4\xB8\x96.x")), Type::kNull);
  EXPECT_EQ(static_cast<std::int64_t>(lookup(s.view, "o.list[1].a")->payload), 2);
}

TEST(SegmentIndex, MissingKeys_NotFound) {
  Built b(kConfig);
  const std::string_view missing[] = {"",
                                      "nope",
                                      "servers[3]",
                                      "servers[3].host",
                                      "servers[02].host",
                                      "servers[2]host",
                                      "servers.2.host",
                                      "servers[2].hos",
                                      "servers[2].hostx",
                                      "database.port.x",
                                      "Database.port",
                                      "database.",
                                      ".database",
                                      "host",
                                      "max_size",
                                      "pool.max_size",
                                      std::string_view("database\0port", 13)};
  for (std::string_view k : missing) EXPECT_EQ(b.view.find(k), nullptr) << k;
}

// find(key, hash) with the hash of a real key: the probe reaches that key's
// slot (its tag matches), so only the walk up the parents can refuse.
TEST(SegmentIndex, WrongSpellingWithRealKeysHash_RefusedByParentWalk) {
  Built b(kConfig);
  Built s(kShapes);
  struct Case {
    const SegmentView* view;
    std::string_view wrong;
    std::string_view real;
  };
  const Case cases[] = {
      {&b.view, "servers[02].host", "servers[2].host"},
      {&b.view, "servers[2]host", "servers[2].host"},
      {&b.view, "servers.2.host", "servers[2].host"},
      {&b.view, "servers[2.host", "servers[2].host"},
      {&b.view, "servers2].host", "servers[2].host"},
      {&b.view, "servers[].host", "servers[2].host"},
      {&b.view, "servers[+2].host", "servers[2].host"},
      {&b.view, "servers[ 2].host", "servers[2].host"},
      {&b.view, "servers[1].host", "servers[2].host"},
      {&b.view, "servers[4294967298].host", "servers[2].host"},  // 2 + 2^32
      {&b.view, "servers[18446744073709551618].host", "servers[2].host"},
      {&b.view, "[2].host", "servers[2].host"},
      {&b.view, "servers[2][0].host", "servers[2].host"},
      {&b.view, "xservers[2].host", "servers[2].host"},
      {&b.view, ".servers[2].host", "servers[2].host"},
      {&b.view, "servers[2]..host", "servers[2].host"},
      {&b.view, "servers[2].host.", "servers[2].host"},
      {&b.view, "servers[2].hos", "servers[2].host"},
      {&b.view, "servers[2].hostt", "servers[2].host"},
      {&b.view, "ervers[2].host", "servers[2].host"},
      {&b.view, "servers[0]", "servers[2]"},
      {&b.view, "servers[00]", "servers[0]"},
      {&b.view, "servers[-0]", "servers[0]"},
      {&b.view, "servers[0]", "servers"},
      // A name of a real key, at another depth.
      {&b.view, "host", "database.host"},
      {&b.view, "database.host", "servers[2].host"},
      {&b.view, "max_size", "database.pool.max_size"},
      {&b.view, "pool.max_size", "database.pool.max_size"},
      {&b.view, "database.max_size", "database.pool.max_size"},
      {&b.view, "database.pool", "database.pool.max_size"},
      {&b.view, "database.pool.max_size.x", "database.pool.max_size"},
      {&b.view, "pool", "database.pool"},
      // Prefixes and suffixes of a real key.
      {&b.view, "database", "database.port"},
      {&b.view, "database.", "database.port"},
      {&b.view, "port", "database.port"},
      {&b.view, ".port", "database.port"},
      {&b.view, "atabase.port", "database.port"},
      {&b.view, "database.portx", "database.port"},
      {&b.view, "", "database"},
      {&b.view, std::string_view("database\0port", 13), "database.port"},
      {&s.view, "a[1]", "a[10]"},
      {&s.view, "a[010]", "a[10]"},
      {&s.view, "a[0]", "a[10]"},
      {&s.view, "a[11].k[1][1][1]deep", "a[11].k[1][1][1].deep"},
      {&s.view, "a[11].k[1][1].deep", "a[11].k[1][1][1].deep"},
      {&s.view, "a[11]k[1][1][1].deep", "a[11].k[1][1][1].deep"},
      {&s.view, "a.11.k.1.1.1.deep", "a[11].k[1][1][1].deep"},
      {&s.view, "m[1][1][1][1]", "m[1][1][1][0]"},
      {&s.view, "m[1][1][1][0][0]", "m[1][1][1][0]"},
      {&s.view, "o.list.a", "o.list[1].a"},
  };
  for (const Case& c : cases) {
    const std::uint64_t hash = key_hash(c.real, c.view->seed());
    ASSERT_NE(c.view->find(c.real, hash), nullptr) << c.real;
    EXPECT_EQ(c.view->find(c.wrong, hash), nullptr)
        << "'" << c.wrong << "' with the hash of '" << c.real << "'";
  }
}

TEST(SegmentIndex, AnyKeyWithAnotherKeysHash_NeverTheOtherNode) {
  // Every pair of nodes: looking up a's path with b's hash probes b's run
  // and may meet b's slot; the walk must refuse it.
  Built b(kShapes);
  const std::uint32_t n = b.view.node_count();
  for (std::uint32_t i = 1; i < n; ++i) {
    const std::string ki = b.view.key(b.view.node(i));
    for (std::uint32_t j = 1; j < n; ++j) {
      if (i == j) continue;
      const std::string kj = b.view.key(b.view.node(j));
      const Node* got = b.view.find(ki, key_hash(kj, b.view.seed()));
      EXPECT_TRUE(got == nullptr || got == &b.view.node(i)) << ki << " with the hash of " << kj;
    }
  }
}

// Pairs of keys "c<n>" whose 7-bit tags collide (XXH3 is fixed, so the
// result is too): the first 64 found among 1000 keys.
std::vector<std::pair<std::string, std::string>> colliding_tags() {
  constexpr std::uint32_t kKeys = 1000;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> tags;  // (tag, n)
  tags.reserve(kKeys);
  for (std::uint32_t k = 0; k < kKeys; ++k) {
    tags.emplace_back(format::slot_tag(key_hash("c" + std::to_string(k), 0)), k);
  }
  std::sort(tags.begin(), tags.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 1; i < tags.size(); ++i) {
    if (tags[i].first == tags[i - 1].first) {
      out.emplace_back("c" + std::to_string(tags[i - 1].second),
                       "c" + std::to_string(tags[i].second));
      if (out.size() == 64) break;
    }
  }
  return out;
}

TEST(SegmentIndex, TagCollision_BothKeysFoundExactly) {
  const auto pairs = colliding_tags();
  ASSERT_GE(pairs.size(), 3u);
  int probes_through_other = 0;
  for (const auto& [x, y] : pairs) {
    SCOPED_TRACE(x + " / " + y);
    const std::uint64_t hx = key_hash(x, 0), hy = key_hash(y, 0);
    ASSERT_NE(hx, hy);
    ASSERT_EQ(format::slot_tag(hx), format::slot_tag(hy));
    Built b("{\"" + x + "\": 1, \"" + y + "\": 2, \"other\": 3}");
    const Node* nx = lookup(b.view, x);
    const Node* ny = lookup(b.view, y);
    ASSERT_NE(nx, nullptr);
    ASSERT_NE(ny, nullptr);
    EXPECT_EQ(nx->payload, 1u);
    EXPECT_EQ(ny->payload, 2u);
    // With the other key's hash: that key's node never, this one's maybe
    // (when the probe run reaches it).
    const Node* cross = b.view.find(x, hy);
    EXPECT_TRUE(cross == nullptr || cross == nx);
    cross = b.view.find(y, hx);
    EXPECT_TRUE(cross == nullptr || cross == ny);
    // Count the pairs where one key's probe passes the other's slot first:
    // there, a tag match alone would have returned the wrong node.
    const auto slots = b.view.slots();
    const std::uint32_t cap = static_cast<std::uint32_t>(slots.size());
    for (const auto& [h, self] : {std::pair{hx, nx}, std::pair{hy, ny}}) {
      for (std::uint32_t s = format::home_slot(h, cap); !slots[s].empty(); s = (s + 1) % cap) {
        if (&b.view.node(slots[s].node()) == self) break;
        if (slots[s].tag() == format::slot_tag(h)) ++probes_through_other;
      }
    }
  }
  EXPECT_GT(probes_through_other, 0) << "no pair exercised a tag match on the wrong key";
}

TEST(SegmentIndex, FiftyThousandKeys_AllFound) {
  constexpr int kSections = 500;
  constexpr int kPerSection = 100;
  std::string text = "{";
  for (int s = 0; s < kSections; ++s) {
    if (s) text += ',';
    text += "\"s" + std::to_string(s) + "\":{";
    for (int k = 0; k < kPerSection; ++k) {
      if (k) text += ',';
      text += "\"k" + std::to_string(k) + "\":" + std::to_string(s * kPerSection + k);
    }
    text += '}';
  }
  text += '}';
  Built b(text);
  ASSERT_EQ(b.view.node_count(), 1u + kSections + kSections * kPerSection);
  int found = 0;
  for (int s = 0; s < kSections; ++s) {
    for (int k = 0; k < kPerSection; ++k) {
      const std::string key = "s" + std::to_string(s) + ".k" + std::to_string(k);
      const Node* n = b.view.find(key);
      if (n != nullptr && static_cast<std::int64_t>(n->payload) == s * kPerSection + k) ++found;
    }
  }
  EXPECT_EQ(found, kSections * kPerSection);
  EXPECT_EQ(b.view.find("s500.k0"), nullptr);
  EXPECT_EQ(b.view.find("s0.k100"), nullptr);
  EXPECT_EQ(b.view.find("k0"), nullptr);
  EXPECT_EQ(b.view.find("s1.k0", key_hash("s0.k0", 0)), nullptr);
}

TEST(SegmentIndex, Slots_OnePerNodeTaggedReachableFromHome) {
  Built b(kShapes);
  const auto slots = b.view.slots();
  const auto cap = static_cast<std::uint32_t>(slots.size());
  std::set<std::uint32_t> nodes;
  for (std::uint32_t s = 0; s < cap; ++s) {
    if (slots[s].empty()) continue;
    const std::uint32_t i = slots[s].node();
    EXPECT_TRUE(nodes.insert(i).second) << i;
    const std::string key = b.view.key(b.view.node(i));
    const std::uint64_t h = key_hash(key, 0);
    EXPECT_EQ(slots[s].tag(), static_cast<std::uint32_t>(h) & 0x7Fu) << key;
    for (std::uint32_t j = format::home_slot(h, cap); j != s; j = (j + 1) % cap) {
      EXPECT_FALSE(slots[j].empty()) << key;
    }
  }
  EXPECT_EQ(nodes.size(), b.view.node_count() - 1u);
  EXPECT_EQ(nodes.count(0), 0u);
  EXPECT_LT(nodes.size(), slots.size());  // an empty slot ends every miss
  const std::uint32_t keys = b.view.node_count() - 1;
  EXPECT_EQ(cap, keys + keys / 4 + 1);  // the writer's load factor, at most 0.8
}

TEST(SegmentIndex, SlotTag_LowSevenBits_SlotWordSplit) {
  EXPECT_EQ(format::slot_tag(0x1234567800000000ull), 0u);
  EXPECT_EQ(format::slot_tag(0x00000000DEADBEEFull), 0x6Fu);
  const format::IndexSlot s = format::make_slot(0x1FFFFFFu, 0x7Fu);
  EXPECT_EQ(s.word, 0xFFFFFFFFu);
  EXPECT_EQ(s.node(), 0x1FFFFFFu);
  EXPECT_EQ(s.tag(), 0x7Fu);
  EXPECT_EQ(format::make_slot(1, 0).word, 1u);  // tag 0 is a tag: not empty
  EXPECT_FALSE(format::make_slot(1, 0).empty());
  EXPECT_TRUE(format::IndexSlot{}.empty());
  EXPECT_EQ(format::home_slot(~0ull, 10), 9u);
  EXPECT_EQ(format::home_slot(0, 10), 0u);
  EXPECT_EQ(format::home_slot(1ull << 63, 10), 5u);
}

// ---- the tree ------------------------------------------------------------------------

TEST(SegmentTree, ObjectChildren_InBytewiseKeyOrder) {
  Built b(kConfig);
  EXPECT_EQ(child_names(b.view, "flags"),
            (std::vector<std::string>{"Mid", "alpha", "beta", "zeta"}));
  EXPECT_EQ(child_names(b.view, ""),
            (std::vector<std::string>{"database", "empty_list", "empty_map", "flags", "servers"}));
  Built u(R"({"\u00e9": 1, "z": 2, "Z": 3, "a": 4, "aa": 5})");
  EXPECT_EQ(child_names(u.view, ""), (std::vector<std::string>{"Z", "a", "aa", "z", "\xC3\xA9"}));
}

TEST(SegmentTree, NameAndKey_OwnNameAndFullPath) {
  Built b(kConfig);
  const Node* n = lookup(b.view, "database.pool.max_size");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.key(*n), "database.pool.max_size");
  EXPECT_EQ(b.view.name(*n), "max_size");
  const Node* e = lookup(b.view, "servers[1]");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, 0u);
  EXPECT_EQ(b.view.name(*e), "");
  EXPECT_EQ(b.view.array_index(*e), 1u);
  const Node* h = lookup(b.view, "servers[1].host");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(b.view.name(*h), "host");
  EXPECT_EQ(b.view.key(b.view.root()), "");
  EXPECT_EQ(b.view.name(b.view.root()), "");
}

// The path of a node's parent: its own path without the last step.
std::string_view parent_path(std::string_view key) {
  if (!key.empty() && key.back() == ']') return key.substr(0, key.rfind('['));
  const std::size_t dot = key.rfind('.');
  const std::size_t bracket = key.rfind(']');
  if (dot == std::string_view::npos) return {};
  if (bracket != std::string_view::npos && bracket > dot) return {};
  return key.substr(0, dot);
}

TEST(SegmentTree, ParentLinks_PointAtTheContainer) {
  for (std::string_view text : {kConfig, kShapes}) {
    Built b(text);
    EXPECT_EQ(format::node_parent(b.view.root()), 0u);
    for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
      const Node& n = b.view.node(i);
      const std::uint32_t p = format::node_parent(n);
      ASSERT_LT(p, i);
      const auto kids = b.view.children(b.view.node(p));
      EXPECT_TRUE(&n >= kids.data() && &n < kids.data() + kids.size()) << b.view.key(n);
      EXPECT_EQ(b.view.key(b.view.node(p)), parent_path(b.view.key(n))) << b.view.key(n);
    }
  }
}

TEST(SegmentTree, ChildBlocks_ContiguousAfterTheirParent) {
  Built b(kShapes);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    const auto kids = b.view.children(n);
    total += kids.size();
    for (const Node& c : kids) {
      EXPECT_GT(b.view.index_of(c), i);
      EXPECT_EQ(format::node_parent(c), i);
    }
  }
  EXPECT_EQ(total, b.view.node_count() - 1u);
}

TEST(SegmentTree, SensitiveBit_OnTheSubtreeParentAndTypeIntact) {
  // More than 2^16 nodes before the secrets, so parent indices use the
  // high bits of Node::bits next to the sensitive bit.
  daemon::Value root = daemon::Value::object();
  daemon::Value bulk = daemon::Value::array();
  for (int i = 0; i < 70'000; ++i) bulk.items.push_back(daemon::Value::integer(i));
  root.fields.emplace("a_bulk", std::move(bulk));
  daemon::Value secrets = daemon::Value::object();
  daemon::Value list = daemon::Value::array();
  list.items.push_back(daemon::Value::string("s0"));
  list.items.push_back(daemon::Value::object());
  secrets.fields.emplace("list", std::move(list));
  secrets.fields.emplace("token", daemon::Value::string("t"));
  root.fields.emplace("secrets", std::move(secrets));
  daemon::Value db = daemon::Value::object();
  db.fields.emplace("password", daemon::Value::string("pw"));
  db.fields.emplace("user", daemon::Value::string("u"));
  root.fields.emplace("z_db", std::move(db));
  const std::set<std::string> sensitive = {"secrets", "z_db.password"};
  BuildOptions o;
  o.sensitive = &sensitive;
  BuiltValue b(root, o);

  const std::set<std::string> want = {"secrets",         "secrets.list",  "secrets.list[0]",
                                      "secrets.list[1]", "secrets.token", "z_db.password"};
  std::set<std::string> got;
  for (std::uint32_t i = 0; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    if (format::node_sensitive(n)) got.insert(b.view.key(n));
  }
  EXPECT_EQ(got, want);
  const Node* token = lookup(b.view, "secrets.token");
  const Node* sec = lookup(b.view, "secrets");
  const Node* list1 = lookup(b.view, "secrets.list[1]");
  const Node* list_node = lookup(b.view, "secrets.list");
  ASSERT_TRUE(token && sec && list_node && list1);
  EXPECT_EQ(format::node_parent(*token), b.view.index_of(*sec));
  EXPECT_GT(b.view.index_of(*list_node), 0xFFFFu);
  EXPECT_EQ(format::node_parent(*list1), b.view.index_of(*list_node));
  EXPECT_EQ(b.view.array_index(*list1), 1u);
  EXPECT_EQ(type_of(*token), Type::kString);
  EXPECT_EQ(b.view.string_value(token->payload), "t");
  EXPECT_EQ(type_of(*lookup(b.view, "secrets.list[1]")), Type::kObject);
  EXPECT_FALSE(format::node_sensitive(*lookup(b.view, "z_db.user")));
  EXPECT_FALSE(format::node_sensitive(*lookup(b.view, "a_bulk[69999]")));
  EXPECT_EQ(static_cast<std::int64_t>(lookup(b.view, "a_bulk[69999]")->payload), 69999);
}

TEST(SegmentTree, NodeBitsHelpers_PackTypeSensitiveParent) {
  const std::uint32_t bits = format::node_bits(Type::kObject, true, format::kMaxNodes - 1);
  const Node n{0, 0, bits};
  EXPECT_EQ(format::node_type(n), Type::kObject);
  EXPECT_TRUE(format::node_sensitive(n));
  EXPECT_EQ(format::node_parent(n), format::kMaxNodes - 1);
  const Node m{0, 0, format::node_bits(Type::kString, false, 5)};
  EXPECT_EQ(m.bits, 0x54u);
}

// ---- limits the builder enforces -------------------------------------------------

// {"k": {"k": ... leaf}} with `depth` names on the path to the leaf.
daemon::Value nested(int depth) {
  daemon::Value v = daemon::Value::integer(depth);
  for (int d = 0; d < depth; ++d) {
    daemon::Value o = daemon::Value::object();
    o.fields.emplace("k", std::move(v));
    v = std::move(o);
  }
  return v;
}

TEST(SegmentLimits, KeyOfMaxLength_BuiltFoundAndFitsKeyTo) {
  daemon::Value root = daemon::Value::object();
  daemon::Value a = daemon::Value::object();
  const std::string name(format::kMaxKeyLength - 2, 'n');  // "a." + name
  a.fields.emplace(name, daemon::Value::integer(7));
  root.fields.emplace("a", std::move(a));
  BuiltValue b(root);
  const std::string key = "a." + name;
  ASSERT_EQ(key.size(), format::kMaxKeyLength);
  const Node* n = lookup(b.view, key);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->payload, 7u);
  char buf[format::kMaxKeyLength];
  EXPECT_EQ(b.view.key_to(*n, buf, sizeof buf), key.size());
  EXPECT_EQ(std::string_view(buf, key.size()), key);
}

TEST(SegmentLimits, KeyOneByteTooLong_Refused) {
  daemon::Value root = daemon::Value::object();
  daemon::Value a = daemon::Value::object();
  a.fields.emplace(std::string(format::kMaxKeyLength - 1, 'n'), daemon::Value::integer(7));
  root.fields.emplace("a", std::move(a));
  EXPECT_THROW(test::build(root), daemon::ConfigError);
}

TEST(SegmentLimits, DepthOfMaxDepth_BuiltAndFound) {
  daemon::Value root = nested(static_cast<int>(format::kMaxDepth));
  BuiltValue b(root);
  std::string key = "k";
  for (std::uint32_t d = 1; d < format::kMaxDepth; ++d) key += ".k";
  const Node* n = lookup(b.view, key);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(type_of(*n), Type::kInt);
  EXPECT_EQ(b.view.key(*n), key);
}

TEST(SegmentLimits, DepthPastMaxDepth_Refused) {
  daemon::Value root = nested(static_cast<int>(format::kMaxDepth) + 1);
  EXPECT_THROW(test::build(root), daemon::ConfigError);
}

// A name the parsers refuse (empty, or holding '.', '[' or ']') in a tree
// built another way: the builder must refuse it rather than write a segment
// its own reader refuses or whose paths are ambiguous (FORMAT.md §5.1).
// Passes when the builder throws, or when the segment opens and every path
// finds its own node.
void expect_refused_or_consistent(const daemon::Value& root) {
  std::vector<std::byte> bytes;
  try {
    bytes = test::build(root);
  } catch (const daemon::ConfigError&) {
    return;
  }
  SegmentView v;
  SegmentError why;
  ASSERT_EQ(SegmentView::open(bytes.data(), bytes.size(), 0, &v, &why), Errc::kOk)
      << "the builder wrote a segment its reader refuses: " << why.message;
  for (std::uint32_t i = 1; i < v.node_count(); ++i) {
    EXPECT_EQ(v.find(v.key(v.node(i))), &v.node(i)) << "ambiguous path " << v.key(v.node(i));
  }
}

// The parsers, set_path and the environment source never produce an empty
// member name; the builder refuses one from any other tree.
TEST(SegmentLimits, EmptyName_RefusedByTheBuilder) {
  daemon::Value root = daemon::Value::object();
  root.fields.emplace("", daemon::Value::integer(1));
  expect_refused_or_consistent(root);
}

// {"a.b": 1, "a": {"b": 2}} would give two nodes the path "a.b".
TEST(SegmentLimits, NameWithSeparator_RefusedByTheBuilder) {
  daemon::Value root = daemon::Value::object();
  daemon::Value a = daemon::Value::object();
  a.fields.emplace("b", daemon::Value::integer(2));
  root.fields.emplace("a", std::move(a));
  root.fields.emplace("a.b", daemon::Value::integer(1));
  root.fields.emplace("c[0]", daemon::Value::integer(3));
  root.fields.emplace("c", daemon::Value::array());
  root.fields.at("c").items.push_back(daemon::Value::integer(4));
  expect_refused_or_consistent(root);
}

// ---- metadata -----------------------------------------------------------------------

TEST(SegmentMeta, Header_FieldsAsBuilt) {
  BuildOptions o;
  o.version = 42;
  o.publish_time_ns = 123456789;
  Built b(kConfig, o);
  const auto& h = b.view.header();
  EXPECT_EQ(b.view.version(), 42u);
  EXPECT_EQ(h.format_version, 3u);
  EXPECT_EQ(h.layout_signature, format::kLayoutSignature);
  EXPECT_EQ(h.publish_time_ns, 123456789u);
  EXPECT_EQ(h.content_hash, daemon::content_hash(test::json(kConfig)));
  EXPECT_EQ(h.segment_size, b.bytes.size());
  EXPECT_EQ(h.prev_version, 0u);
  EXPECT_EQ(h.hash_seed, 0u);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.reserved1, 0u);
  EXPECT_EQ(h.reserved2, 0u);
  EXPECT_EQ(h.origins_off % 8, 0u);
  EXPECT_GE(h.origins_off, 128u);
}

TEST(SegmentMeta, Sources_InOrder) {
  BuildOptions o;
  o.sources = {"file:/etc/app/base.json", "env:APP_", "override"};
  Built b(kConfig, o);
  ASSERT_EQ(b.view.sources().size(), 3u);
  EXPECT_EQ(b.view.source_name(0), "file:/etc/app/base.json");
  EXPECT_EQ(b.view.source_name(1), "env:APP_");
  EXPECT_EQ(b.view.source_name(2), "override");
  EXPECT_EQ(b.view.source_name(3), "");
  EXPECT_EQ(b.view.source_name(format::kNoSource), "");
}

TEST(SegmentMeta, Trigger_Stored) {
  BuildOptions o;
  o.trigger = "inotify";
  Built b(kConfig, o);
  EXPECT_EQ(b.view.trigger(), "inotify");
}

TEST(SegmentMeta, FirstVersion_ChangeListEmpty) {
  Built b(R"({"b": {"c": "x", "d": []}, "a": {"z": 1}, "e": true})");
  EXPECT_EQ(b.view.header().prev_version, 0u);
  EXPECT_TRUE(b.view.changed().empty());
}

std::vector<std::pair<std::string, std::uint32_t>> recorded(const SegmentView& v) {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (const auto& c : v.changed()) out.emplace_back(v.str(c.key_off, c.key_len), c.kind);
  return out;
}

TEST(SegmentMeta, NextVersion_ChangesAgainstPrevious) {
  Built v1(R"({"same": 1, "changed": 1, "gone": 1, "retyped": 1, "sec": {"x": 1}})");
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  Built v2(R"({"same": 1, "changed": 2, "new": 1, "retyped": "1", "sec": 5})", o);
  EXPECT_EQ(v2.view.header().prev_version, 1u);
  const auto added = static_cast<std::uint32_t>(Change::kAdded);
  const auto removed = static_cast<std::uint32_t>(Change::kRemoved);
  const auto changed = static_cast<std::uint32_t>(Change::kChanged);
  EXPECT_EQ(recorded(v2.view),
            (std::vector<std::pair<std::string, std::uint32_t>>{{"changed", changed},
                                                                {"gone", removed},
                                                                {"new", added},
                                                                {"retyped", changed},
                                                                {"sec", added},
                                                                {"sec.x", removed}}));
}

TEST(SegmentMeta, ChangedKeys_NulTerminatedFullPaths) {
  Built v1(R"({"s": [{"a": 1}], "t": {"u": [1, 2]}})");
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  Built v2(R"({"s": [{"a": 2}], "t": {"u": [1]}})", o);
  const auto* base = reinterpret_cast<const char*>(v2.bytes.data());
  for (const auto& c : v2.view.changed()) EXPECT_EQ(base[c.key_off + c.key_len], '\0');
  const auto removed = static_cast<std::uint32_t>(Change::kRemoved);
  const auto changed = static_cast<std::uint32_t>(Change::kChanged);
  EXPECT_EQ(recorded(v2.view), (std::vector<std::pair<std::string, std::uint32_t>>{
                                   {"s[0].a", changed}, {"t.u[1]", removed}}));
}

// ---- provenance ----------------------------------------------------------------------

TEST(SegmentOrigin, LineColumnAndSource_FromParser) {
  BuildOptions o;
  o.sources = {"file:a.json"};
  Built b("{\n  \"a\": 1,\n  \"b\": {\n    \"c\": \"x\"\n  }\n}", o);
  const Node* a = lookup(b.view, "a");
  const Node* c = lookup(b.view, "b.c");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(b.view.source_name(b.view.origin(*a).source), "file:a.json");
  EXPECT_EQ(b.view.origin(*a).line, 2u);
  EXPECT_EQ(b.view.origin(*c).line, 4u);
  EXPECT_GT(b.view.origin(*a).column, 0u);
  EXPECT_GT(b.view.origin(*c).column, b.view.origin(*a).column);
}

TEST(SegmentOrigin, ColumnPast65535_Saturates) {
  // Origin::column is 16 bits: 65535 means "65535 or more".
  const std::string text = R"({"pad": ")" + std::string(70'000, 'p') + R"(", "k": 1})";
  const daemon::Value root = test::json(text);
  ASSERT_GT(root.fields.find("k")->second.origin.column, 0xFFFFu);
  BuiltValue b(root);
  const Node* k = lookup(b.view, "k");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(b.view.origin(*k).column, 0xFFFFu);
  EXPECT_EQ(b.view.origin(*k).line, 1u);
  EXPECT_LT(b.view.origin(*lookup(b.view, "pad")).column, 0xFFFFu);
}

TEST(SegmentOrigin, UnknownOrHugeSource_NoSource) {
  daemon::Value root = daemon::Value::object();
  root.fields.emplace("unknown", daemon::Value::integer(1));  // default Origin
  root.fields.emplace("huge", daemon::Value::integer(2, daemon::Origin{70'000, 3, 4}));
  root.fields.emplace("known", daemon::Value::integer(3, daemon::Origin{0, 5, 6}));
  BuiltValue b(root);
  EXPECT_EQ(b.view.origin(*lookup(b.view, "unknown")).source, format::kNoSource);
  EXPECT_EQ(b.view.origin(*lookup(b.view, "unknown")).line, 0u);
  EXPECT_EQ(b.view.origin(*lookup(b.view, "huge")).source, format::kNoSource);
  EXPECT_EQ(b.view.source_name(b.view.origin(*lookup(b.view, "huge")).source), "");
  const format::Origin known = b.view.origin(*lookup(b.view, "known"));
  EXPECT_EQ(known.source, 0u);
  EXPECT_EQ(known.line, 5u);
  EXPECT_EQ(known.column, 6u);
}

// ---- diff_segments -------------------------------------------------------------------

using Diff = std::vector<std::pair<std::string, Change>>;

Diff diff(const SegmentView& a, const SegmentView& b, std::string_view prefix = {}) {
  Diff out;
  for (const auto& c : diff_segments(a, b, prefix)) {
    out.emplace_back(std::string(c.key), c.kind);
    EXPECT_EQ(c.from_node == nullptr, c.kind == Change::kAdded);
    EXPECT_EQ(c.to_node == nullptr, c.kind == Change::kRemoved);
    // The nodes are the leaves at that key, in their own views.
    if (c.from_node != nullptr) {
      EXPECT_EQ(a.key(*c.from_node), c.key);
      EXPECT_TRUE(is_leaf(*c.from_node)) << c.key;
    }
    if (c.to_node != nullptr) {
      EXPECT_EQ(b.key(*c.to_node), c.key);
      EXPECT_TRUE(is_leaf(*c.to_node)) << c.key;
    }
  }
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end()));
  return out;
}

TEST(DiffSegments, AddedRemovedChanged_SortedByKey) {
  Built a(R"({"k": {"same": 1, "mod": "a", "old": true, "arr": [1, 2]}})");
  Built b(R"({"k": {"same": 1, "mod": "b", "new": null, "arr": [1]}})");
  EXPECT_EQ(diff(a.view, b.view), (Diff{{"k.arr[1]", Change::kRemoved},
                                        {"k.mod", Change::kChanged},
                                        {"k.new", Change::kAdded},
                                        {"k.old", Change::kRemoved}}));
}

TEST(DiffSegments, Prefix_OnlyKeysUnderIt) {
  Built a(R"({"db": {"port": 1}, "dbx": 1, "web": {"port": 1}})");
  Built b(R"({"db": {"port": 2}, "dbx": 2, "web": {"port": 2}})");
  EXPECT_EQ(diff(a.view, b.view, "db."), (Diff{{"db.port", Change::kChanged}}));
  // A plain string prefix: "db" covers "dbx" too.
  EXPECT_EQ(diff(a.view, b.view, "db"),
            (Diff{{"db.port", Change::kChanged}, {"dbx", Change::kChanged}}));
  EXPECT_EQ(diff(a.view, b.view, "web.port"), (Diff{{"web.port", Change::kChanged}}));
  EXPECT_TRUE(diff(a.view, b.view, "web.port.x").empty());
  EXPECT_TRUE(diff(a.view, b.view, "nothing").empty());
  EXPECT_EQ(diff(a.view, b.view, "").size(), 3u);
}

TEST(DiffSegments, PrefixThroughArrays_OnlyThatElement) {
  Built a(R"({"s": [{"h": "a"}, {"h": "b"}, 0, 0, 0, 0, 0, 0, 0, 0, 0, {"h": "c"}]})");
  Built b(R"({"s": [{"h": "A"}, {"h": "B"}, 0, 0, 0, 0, 0, 0, 0, 0, 0, {"h": "C"}]})");
  EXPECT_EQ(diff(a.view, b.view, "s[1]."), (Diff{{"s[1].h", Change::kChanged}}));
  // "s[1" is a string prefix of "s[11]" as well.
  EXPECT_EQ(diff(a.view, b.view, "s[1"),
            (Diff{{"s[11].h", Change::kChanged}, {"s[1].h", Change::kChanged}}));
}

TEST(DiffSegments, FromEmptyView_EveryLeafAdded) {
  Built b(R"({"a": 1, "b": {"c": 2}, "d": [], "e": [3]})");
  const SegmentView none;
  EXPECT_EQ(diff(none, b.view), (Diff{{"a", Change::kAdded},
                                      {"b.c", Change::kAdded},
                                      {"d", Change::kAdded},
                                      {"e[0]", Change::kAdded}}));
}

TEST(DiffSegments, SameContent_NoChanges) {
  Built a(kConfig);
  Built b(kConfig);
  EXPECT_TRUE(diff(a.view, b.view).empty());
  Built s(kShapes);
  EXPECT_TRUE(diff(s.view, s.view).empty());
}

TEST(DiffSegments, IntToDoubleSameNumber_Changed) {
  Built a(R"({"x": 1, "z": 0.0})");
  Built b(R"({"x": 1.0, "z": -0.0})");
  EXPECT_EQ(diff(a.view, b.view), (Diff{{"x", Change::kChanged}, {"z", Change::kChanged}}));
}

TEST(DiffSegments, LeafBecomesSection_RemovedAndAdded) {
  Built a(R"({"x": 1})");
  Built b(R"({"x": {"y": 1, "z": [2]}})");
  EXPECT_EQ(diff(a.view, b.view),
            (Diff{{"x", Change::kRemoved}, {"x.y", Change::kAdded}, {"x.z[0]", Change::kAdded}}));
}

TEST(DiffSegments, SectionBecomesLeaf_RemovedAndAdded) {
  Built a(R"({"x": {"y": 1, "z": [2]}})");
  Built b(R"({"x": "flat"})");
  EXPECT_EQ(diff(a.view, b.view),
            (Diff{{"x", Change::kAdded}, {"x.y", Change::kRemoved}, {"x.z[0]", Change::kRemoved}}));
}

TEST(DiffSegments, EmptyContainers_LeavesThatChange) {
  // An empty array and an empty object are leaves: one replacing the
  // other is a change; an empty one filling up is the leaf removed and the
  // new leaves added.
  Built a(R"({"e": [], "f": {}, "g": {}})");
  Built b(R"({"e": {}, "f": {"k": 1}, "g": {}})");
  EXPECT_EQ(diff(a.view, b.view),
            (Diff{{"e", Change::kChanged}, {"f", Change::kRemoved}, {"f.k", Change::kAdded}}));
}

TEST(DiffSegments, ArrayBecomesObject_ElementsRemovedMembersAdded) {
  Built a(R"({"x": [1, 2]})");
  Built b(R"({"x": {"a": 1}})");
  EXPECT_EQ(
      diff(a.view, b.view),
      (Diff{{"x.a", Change::kAdded}, {"x[0]", Change::kRemoved}, {"x[1]", Change::kRemoved}}));
}

TEST(DiffSegments, ArrayShrinks_TailRemoved) {
  Built a(R"({"a": [1, 2, [3, 4], {"k": 5}]})");
  Built b(R"({"a": [1]})");
  EXPECT_EQ(diff(a.view, b.view), (Diff{{"a[1]", Change::kRemoved},
                                        {"a[2][0]", Change::kRemoved},
                                        {"a[2][1]", Change::kRemoved},
                                        {"a[3].k", Change::kRemoved}}));
}

TEST(DiffSegments, ArrayGrows_TailAddedSortedBytewise) {
  Built a(R"({"a": [0, 1, 2, 3, 4, 5, 6, 7, 8]})");
  Built b(R"({"a": [0, 1, 2, 3, 4, 5, 6, 7, 9, 9, [10], 11]})");
  EXPECT_EQ(diff(a.view, b.view), (Diff{{"a[10][0]", Change::kAdded},
                                        {"a[11]", Change::kAdded},
                                        {"a[8]", Change::kChanged},
                                        {"a[9]", Change::kAdded}}));
}

TEST(DiffSegments, NestedArrayElement_Changed) {
  Built a(R"({"m": [[1, 2], [3, [4]]]})");
  Built b(R"({"m": [[1, 2], [3, [5]]]})");
  EXPECT_EQ(diff(a.view, b.view), (Diff{{"m[1][1][0]", Change::kChanged}}));
}

TEST(DiffSegments, AgreesWithBuilderChangeList) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {kConfig, R"({"database": {"host": "db2", "port": 5432}, "servers": [{"host": "a"}],
                    "flags": {"alpha": false}, "empty_list": [0]})"},
      {kShapes, kConfig},
      {kConfig, kShapes},
      {R"({"a": [1, 2, 3]})", R"({"a": {"0": 1}})"},
      {R"({"a": {}, "b": []})", R"({"a": [], "b": {}})"},
      {R"({"x": {"y": {"z": 1}}})", R"({"x": {"y": 1}})"},
      {R"({"z": 0.0, "s": "a"})", R"({"z": -0.0, "s": "a\u0000"})"},
  };
  for (const auto& [from, to] : cases) {
    Built v1(from);
    BuildOptions o;
    o.version = 2;
    o.previous = &v1.view;
    Built v2(to, o);
    Diff rec;
    for (const auto& [key, kind] : recorded(v2.view))
      rec.emplace_back(key, static_cast<Change>(kind));
    EXPECT_EQ(diff(v1.view, v2.view), rec) << to;
    EXPECT_FALSE(rec.empty());
  }
}

}  // namespace
}  // namespace shmconf
