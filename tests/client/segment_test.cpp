// tests/client/segment_test.cpp — segments built in memory by the daemon's
// builder and read back through SegmentView: every type, the key index, the
// tree, metadata, provenance and diff_segments.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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

// The node for `key`, or nullptr; checks that the slot agrees with it.
const Node* lookup(const SegmentView& v, std::string_view key) {
  const IndexSlot* s = v.find(key);
  if (s == nullptr) return nullptr;
  const Node& n = v.node(s->node);
  EXPECT_EQ(s->type, n.type);
  EXPECT_EQ(s->payload, n.payload);
  return &n;
}

Type type_of(const Node& n) { return static_cast<Type>(n.type); }

std::vector<std::string> child_names(const SegmentView& v, std::string_view key) {
  std::vector<std::string> out;
  const Node* n = key.empty() ? &v.root() : lookup(v, key);
  if (n == nullptr) return out;
  for (const Node& c : v.children(*n)) out.emplace_back(v.name(c));
  return out;
}

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
  for (std::size_t i = 0; i < kids.size(); ++i) {
    EXPECT_EQ(type_of(kids[i]), want[i]) << i;
    EXPECT_EQ(b.view.key(kids[i]), "a[" + std::to_string(i) + "]");
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
  EXPECT_TRUE(b.view.children(*l).empty());
  EXPECT_TRUE(b.view.children(*m).empty());
  EXPECT_TRUE(is_leaf(*l));
  EXPECT_TRUE(is_leaf(*m));
  EXPECT_FALSE(is_leaf(*lookup(b.view, "database")));
}

TEST(SegmentRoundTrip, EmptyRoot_OnlyRootNode) {
  Built b("{}");
  EXPECT_EQ(b.view.node_count(), 1u);
  EXPECT_TRUE(b.view.children(b.view.root()).empty());
  EXPECT_EQ(b.view.find("x"), nullptr);
}

TEST(SegmentStrings, EveryKeyAndString_FollowedByNul) {
  Built b(kConfig);
  const auto* base = reinterpret_cast<const char*>(b.bytes.data());
  for (std::uint32_t i = 0; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    EXPECT_EQ(base[n.key_off + n.key_len], '\0') << b.view.key(n);
    if (type_of(n) == Type::kString) {
      EXPECT_EQ(base[format::low32(n.payload) + format::high32(n.payload)], '\0');
    }
  }
}

// ---- the key index ----------------------------------------------------------------

TEST(SegmentIndex, EveryPath_FoundAtItsNode) {
  Built b(kConfig);
  for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
    const std::string_view key = b.view.key(b.view.node(i));
    const IndexSlot* s = b.view.find(key);
    ASSERT_NE(s, nullptr) << key;
    EXPECT_EQ(s->node, i) << key;
  }
}

TEST(SegmentIndex, ArrayElementPath_Found) {
  Built b(kConfig);
  const Node* n = lookup(b.view, "servers[2].host");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.string_value(n->payload), "c");
  EXPECT_NE(lookup(b.view, "servers[0]"), nullptr);
  EXPECT_NE(lookup(b.view, "database.pool.max_size"), nullptr);
}

TEST(SegmentIndex, MissingKeys_NotFound) {
  Built b(kConfig);
  const std::string_view missing[] = {"",
                                      "nope",
                                      "servers[3]",
                                      "servers[3].host",
                                      "servers.2.host",
                                      "servers[2].hos",
                                      "servers[2].hostx",
                                      "database.port.x",
                                      "Database.port",
                                      "database.",
                                      ".database",
                                      std::string_view("database\0port", 13)};
  for (std::string_view k : missing) EXPECT_EQ(b.view.find(k), nullptr) << k;
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
      const IndexSlot* slot = b.view.find(key);
      if (slot != nullptr && static_cast<std::int64_t>(slot->payload) == s * kPerSection + k) {
        ++found;
      }
    }
  }
  EXPECT_EQ(found, kSections * kPerSection);
  EXPECT_EQ(b.view.find("s500.k0"), nullptr);
  EXPECT_EQ(b.view.find("s0.k100"), nullptr);
}

TEST(SegmentIndex, Capacity_LeavesAnEmptySlot) {
  Built b(kConfig);
  const auto slots = b.view.slots();
  const auto used =
      std::count_if(slots.begin(), slots.end(), [](const IndexSlot& s) { return s.hash != 0; });
  EXPECT_EQ(static_cast<std::uint32_t>(used), b.view.node_count() - 1);
  EXPECT_LT(static_cast<std::size_t>(used), slots.size());
}

// ---- the tree ------------------------------------------------------------------------

TEST(SegmentTree, ObjectChildren_InBytewiseKeyOrder) {
  Built b(kConfig);
  EXPECT_EQ(child_names(b.view, "flags"),
            (std::vector<std::string>{"Mid", "alpha", "beta", "zeta"}));
  EXPECT_EQ(child_names(b.view, ""),
            (std::vector<std::string>{"database", "empty_list", "empty_map", "flags", "servers"}));
}

TEST(SegmentTree, NameAndKey_LastComponentAndFullPath) {
  Built b(kConfig);
  const Node* n = lookup(b.view, "database.pool.max_size");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.view.key(*n), "database.pool.max_size");
  EXPECT_EQ(b.view.name(*n), "max_size");
  const Node* e = lookup(b.view, "servers[1]");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(b.view.name(*e), "[1]");
  const Node* h = lookup(b.view, "servers[1].host");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(b.view.name(*h), "host");
  EXPECT_EQ(b.view.key(b.view.root()), "");
}

TEST(SegmentTree, ParentLinks_PointAtTheContainer) {
  Built b(kConfig);
  EXPECT_EQ(b.view.root().parent, 0u);
  for (std::uint32_t i = 1; i < b.view.node_count(); ++i) {
    const Node& n = b.view.node(i);
    ASSERT_LT(n.parent, i);
    const Node& p = b.view.node(n.parent);
    const auto kids = b.view.children(p);
    EXPECT_TRUE(&n >= kids.data() && &n < kids.data() + kids.size()) << b.view.key(n);
    // The parent's path is this path without its last component.
    const std::string_view key = b.view.key(n);
    std::string_view parent_path = key.substr(0, n.name_pos);
    if (!parent_path.empty() && parent_path.back() == '.') parent_path.remove_suffix(1);
    EXPECT_EQ(b.view.key(p), parent_path);
  }
  EXPECT_EQ(b.view.index_of(*lookup(b.view, "servers[2].port")),
            lookup(b.view, "servers[2].port") - &b.view.node(0));
}

// ---- metadata -----------------------------------------------------------------------

TEST(SegmentMeta, Header_FieldsAsBuilt) {
  BuildOptions o;
  o.version = 42;
  o.publish_time_ns = 123456789;
  Built b(kConfig, o);
  const auto& h = b.view.header();
  EXPECT_EQ(b.view.version(), 42u);
  EXPECT_EQ(h.publish_time_ns, 123456789u);
  EXPECT_EQ(h.content_hash, daemon::content_hash(test::json(kConfig)));
  EXPECT_EQ(h.segment_size, b.bytes.size());
  EXPECT_EQ(h.prev_version, 0u);
  EXPECT_EQ(h.hash_seed, 0u);
  EXPECT_EQ(h.flags, 0u);
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

TEST(SegmentMeta, FirstVersion_EveryLeafAddedSortedByKey) {
  // Breadth-first order would put "e" before "b.c": the list is by key.
  Built b(R"({"b": {"c": "x", "d": []}, "a": {"z": 1}, "e": true})");
  std::vector<std::string> keys;
  for (const auto& c : b.view.changed()) {
    EXPECT_EQ(c.kind, static_cast<std::uint32_t>(Change::kAdded));
    keys.emplace_back(b.view.str(c.key_off, c.key_len));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a.z", "b.c", "b.d", "e"}));
}

TEST(SegmentMeta, NextVersion_ChangesAgainstPrevious) {
  Built v1(R"({"same": 1, "changed": 1, "gone": 1, "retyped": 1, "sec": {"x": 1}})");
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  Built v2(R"({"same": 1, "changed": 2, "new": 1, "retyped": "1", "sec": 5})", o);
  EXPECT_EQ(v2.view.header().prev_version, 1u);
  std::vector<std::pair<std::string, std::uint32_t>> got;
  for (const auto& c : v2.view.changed())
    got.emplace_back(v2.view.str(c.key_off, c.key_len), c.kind);
  const auto added = static_cast<std::uint32_t>(Change::kAdded);
  const auto removed = static_cast<std::uint32_t>(Change::kRemoved);
  const auto changed = static_cast<std::uint32_t>(Change::kChanged);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::uint32_t>>{{"changed", changed},
                                                                     {"gone", removed},
                                                                     {"new", added},
                                                                     {"retyped", changed},
                                                                     {"sec", added},
                                                                     {"sec.x", removed}}));
}

TEST(SegmentOrigin, LineColumnAndSource_FromParser) {
  BuildOptions o;
  o.sources = {"file:a.json"};
  Built b("{\n  \"a\": 1,\n  \"b\": {\n    \"c\": \"x\"\n  }\n}", o);
  const Node* a = lookup(b.view, "a");
  const Node* c = lookup(b.view, "b.c");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(b.view.source_name(a->source), "file:a.json");
  EXPECT_EQ(a->line, 2u);
  EXPECT_EQ(c->line, 4u);
  EXPECT_GT(a->column, 0u);
  EXPECT_GT(c->column, a->column);
}

// ---- diff_segments -------------------------------------------------------------------

std::vector<std::pair<std::string, Change>> diff(const SegmentView& a, const SegmentView& b,
                                                 std::string_view prefix = {}) {
  std::vector<std::pair<std::string, Change>> out;
  for (const auto& c : diff_segments(a, b, prefix)) {
    out.emplace_back(std::string(c.key), c.kind);
    EXPECT_EQ(c.from_node == nullptr, c.kind == Change::kAdded);
    EXPECT_EQ(c.to_node == nullptr, c.kind == Change::kRemoved);
  }
  return out;
}

TEST(DiffSegments, AddedRemovedChanged_SortedByKey) {
  Built a(R"({"k": {"same": 1, "mod": "a", "old": true, "arr": [1, 2]}})");
  Built b(R"({"k": {"same": 1, "mod": "b", "new": null, "arr": [1]}})");
  EXPECT_EQ(diff(a.view, b.view),
            (std::vector<std::pair<std::string, Change>>{{"k.arr[1]", Change::kRemoved},
                                                         {"k.mod", Change::kChanged},
                                                         {"k.new", Change::kAdded},
                                                         {"k.old", Change::kRemoved}}));
}

TEST(DiffSegments, Prefix_OnlyKeysUnderIt) {
  Built a(R"({"db": {"port": 1}, "dbx": 1, "web": {"port": 1}})");
  Built b(R"({"db": {"port": 2}, "dbx": 2, "web": {"port": 2}})");
  EXPECT_EQ(diff(a.view, b.view, "db."),
            (std::vector<std::pair<std::string, Change>>{{"db.port", Change::kChanged}}));
}

TEST(DiffSegments, FromEmptyView_EveryLeafAdded) {
  Built b(R"({"a": 1, "b": {"c": 2}})");
  const SegmentView none;
  EXPECT_EQ(diff(none, b.view), (std::vector<std::pair<std::string, Change>>{
                                    {"a", Change::kAdded}, {"b.c", Change::kAdded}}));
}

TEST(DiffSegments, SameContent_NoChanges) {
  Built a(kConfig);
  Built b(kConfig);
  EXPECT_TRUE(diff(a.view, b.view).empty());
}

TEST(DiffSegments, IntToDoubleSameNumber_Changed) {
  Built a(R"({"x": 1})");
  Built b(R"({"x": 1.0})");
  EXPECT_EQ(diff(a.view, b.view),
            (std::vector<std::pair<std::string, Change>>{{"x", Change::kChanged}}));
}

TEST(DiffSegments, LeafBecomesSection_RemovedAndAdded) {
  Built a(R"({"x": 1})");
  Built b(R"({"x": {"y": 1}})");
  EXPECT_EQ(diff(a.view, b.view), (std::vector<std::pair<std::string, Change>>{
                                      {"x", Change::kRemoved}, {"x.y", Change::kAdded}}));
}

TEST(DiffSegments, AgreesWithBuilderChangeList) {
  Built v1(kConfig);
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  Built v2(R"({"database": {"host": "db2", "port": 5432}, "servers": [{"host": "a"}],
               "flags": {"alpha": false}, "empty_list": [0]})",
           o);
  std::vector<std::pair<std::string, Change>> recorded;
  for (const auto& c : v2.view.changed()) {
    recorded.emplace_back(std::string(v2.view.str(c.key_off, c.key_len)),
                          static_cast<Change>(c.kind));
  }
  EXPECT_EQ(diff(v1.view, v2.view), recorded);
  EXPECT_FALSE(recorded.empty());
}

}  // namespace
}  // namespace shmconf
