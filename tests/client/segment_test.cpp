// tests/client/segment_test.cpp — segments built in memory by the daemon's
// builder and read back through SegmentView: every type, names and the
// string pool, the tree and the limits the builder enforces. The index,
// metadata and diff_segments have their own files (segment_*_test.cpp).
#include <thread>

#include "client/segment_test_util.hpp"

namespace shmconf {
namespace {

using namespace segment_test;

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

// The builder keeps its intern table between builds on one thread and
// clears only the slots a build used. A small build after a large one
// (whose table grew and was rehashed) must not meet a stale entry: its
// bytes equal those of the same build on a fresh thread.
TEST(SegmentStrings, BuildAfterALargerOne_SameBytesAsOnAFreshThread) {
  std::string large = "{";
  for (int i = 0; i < 5000; ++i) {
    large += (i ? ", \"" : "\"") + std::string("k") + std::to_string(i) + "\": \"v" +
             std::to_string(i % 700) + "\"";
  }
  large += "}";
  const std::string small = R"({"k1": "v1", "k2": {"v1": "k1", "k3": "v699"}, "x": "v2"})";
  std::vector<std::byte> fresh;
  std::thread([&] { fresh = test::build(test::json(small)); }).join();
  std::vector<std::byte> after;
  std::thread([&] {
    (void)test::build(test::json(large));
    after = test::build(test::json(small));
  }).join();
  EXPECT_EQ(after, fresh);
  EXPECT_EQ(test::build(test::json(small)), fresh);  // this thread, after the others' builds
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

}  // namespace
}  // namespace shmconf
