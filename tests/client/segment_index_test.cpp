// tests/client/segment_index_test.cpp — the key index of a segment: every
// path found at its node, key_to() round trips, the parent walk that refuses
// a wrong spelling, tag collisions, a large index and the slot words.
#include "client/segment_test_util.hpp"

namespace shmconf {
namespace {

using namespace segment_test;

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

}  // namespace
}  // namespace shmconf
