// tests/client/segment_diff_test.cpp — diff_segments: added, removed and
// changed leaves, prefixes, shape changes and agreement with the builder's
// change list.
#include "client/segment_test_util.hpp"

namespace shmconf {
namespace {

using namespace segment_test;

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
