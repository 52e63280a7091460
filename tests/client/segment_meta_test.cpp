// tests/client/segment_meta_test.cpp — what a segment says besides its
// tree: the header fields, sources, trigger, change list and provenance.
#include <cstdio>

#include "client/segment_test_util.hpp"

namespace shmconf {
namespace {

using namespace segment_test;

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

// Against a live version of more than 4096 nodes the builder lists the
// changes on a second thread while it lays the tree out: the same list.
daemon::Value numbered(int n, int changed_at, int removed_at, bool extra) {
  daemon::Value root = daemon::Value::object();
  char key[16];
  for (int i = 0; i < n; ++i) {
    if (i == removed_at) continue;
    std::snprintf(key, sizeof key, "k%05d", i);
    root.fields.emplace(key, daemon::Value::integer(i == changed_at ? -1 : i));
  }
  if (extra) root.fields.emplace("zz", daemon::Value::string("new"));
  return root;
}

TEST(SegmentMeta, LargePrevious_ChangesListedBesideTheLayout) {
  const BuiltValue v1(numbered(6000, -1, -1, false));
  ASSERT_GT(v1.view.node_count(), 4096u);
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  const BuiltValue v2(numbered(6000, 17, 4242, true), o);
  const auto added = static_cast<std::uint32_t>(Change::kAdded);
  const auto removed = static_cast<std::uint32_t>(Change::kRemoved);
  const auto changed = static_cast<std::uint32_t>(Change::kChanged);
  EXPECT_EQ(recorded(v2.view), (std::vector<std::pair<std::string, std::uint32_t>>{
                                   {"k00017", changed}, {"k04242", removed}, {"zz", added}}));
}

TEST(SegmentMeta, LargePrevious_LayoutErrorWhileListing_Thrown) {
  const BuiltValue v1(numbered(6000, -1, -1, false));
  daemon::Value bad = numbered(6000, 3, -1, false);
  bad.fields.emplace("a.b", daemon::Value::integer(1));  // refused by the layout
  BuildOptions o;
  o.version = 2;
  o.previous = &v1.view;
  EXPECT_THROW(test::build(bad, o), daemon::ConfigError);
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

}  // namespace
}  // namespace shmconf
