// tests/client/segment_test_util.hpp — what the segment tests share: the
// sample configurations, lookup() (which checks both find() overloads
// agree), child names, a segment built from a Value tree and its recorded
// change list.
#pragma once

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

namespace shmconf::segment_test {

using format::Change;
using format::IndexSlot;
using format::Node;
using format::Type;
using test::BuildOptions;
using test::Built;

inline constexpr std::string_view kConfig = R"({
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
inline constexpr std::string_view kShapes = R"({
  "a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, {"k": [[], [1, [2, {"deep": "x"}]]]}],
  "m": [[1, 2], [3, [4, [5]]]],
  "k\u00e9y": {"\u4e16": {"x": null}},
  "o": {"list": [{"a": 1}, {"a": 2}], "e": {}}
})";

// The node for `key`, or nullptr; checks that a lookup with the hash
// computed up front agrees.
inline const Node* lookup(const SegmentView& v, std::string_view key) {
  const Node* n = v.find(key);
  EXPECT_EQ(v.find(key, key_hash(key, v.seed())), n) << key;
  return n;
}

inline Type type_of(const Node& n) { return format::node_type(n); }

inline std::vector<std::string> child_names(const SegmentView& v, std::string_view key) {
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

// The change list a segment recorded, as (key, kind) pairs.
inline std::vector<std::pair<std::string, std::uint32_t>> recorded(const SegmentView& v) {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (const auto& c : v.changed()) out.emplace_back(v.str(c.key_off, c.key_len), c.kind);
  return out;
}

}  // namespace shmconf::segment_test
