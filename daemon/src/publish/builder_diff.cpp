// daemon/src/publish/builder_diff.cpp — SnapshotBuilder::diff_against(): the
// leaf keys that differ from the live segment, from one parallel walk of the
// candidate tree and the segment (objects' members are sorted on both
// sides). The builder runs it beside the layout for a large live version.
#include <algorithm>

#include "publish/builder.hpp"
#include "publish/builder_internal.hpp"

namespace shmconf::daemon {
namespace {

using builder_detail::append_step;
using builder_detail::child_count;
using builder_detail::scalar_payload;

bool value_is_leaf(const Value& v) { return child_count(v) == 0; }

// A new leaf equals an old one: same type and value (FORMAT.md "Changes").
bool same_as(const Value& v, const SegmentView& prev, const format::Node& n) {
  if (format::node_type(n) != v.type) return false;
  switch (v.type) {
    case Type::kString:
      return prev.string_value(n.payload) == v.s;
    case Type::kArray:
    case Type::kObject:
      return format::high32(n.payload) == 0;  // both empty
    default:
      return n.payload == scalar_payload(v);
  }
}

}  // namespace

void SnapshotBuilder::diff_against(const SegmentView& prev) {
  // One walk of both trees; `path` is the key of the pair being compared.
  std::string path;
  path.reserve(format::kMaxKeyLength + 64);
  struct Walk {
    const SegmentView& prev;
    std::vector<KeyChange>& out;
    std::string& path;

    void added(const Value& v) {
      if (value_is_leaf(v)) return out.push_back({path, format::Change::kAdded});
      const std::size_t keep = path.size();
      if (v.type == Type::kArray) {
        for (std::size_t k = 0; k < v.items.size(); ++k) {
          append_step(path, true, {}, k);
          added(v.items[k]);
          path.resize(keep);
        }
        return;
      }
      for (const auto& [name, c] : v.fields) {
        append_step(path, false, name, 0);
        added(c);
        path.resize(keep);
      }
    }
    void removed(const format::Node& n) {
      if (is_leaf(n)) return out.push_back({path, format::Change::kRemoved});
      const bool array = format::node_type(n) == format::Type::kArray;
      const std::size_t keep = path.size();
      std::size_t k = 0;
      for (const format::Node& c : prev.children(n)) {
        append_step(path, array, prev.name(c), k++);
        removed(c);
        path.resize(keep);
      }
    }
    void walk(const Value& v, const format::Node& n) {
      const bool leaf_v = value_is_leaf(v), leaf_n = is_leaf(n);
      if (leaf_v && leaf_n) {
        if (!same_as(v, prev, n)) out.push_back({path, format::Change::kChanged});
        return;
      }
      if (leaf_v || leaf_n || format::node_type(n) != v.type) {
        removed(n);
        added(v);
        return;
      }
      const auto kids = prev.children(n);
      const std::size_t keep = path.size();
      if (v.type == Type::kArray) {
        for (std::size_t k = 0; k < std::max(kids.size(), v.items.size()); ++k) {
          append_step(path, true, {}, k);
          if (k >= v.items.size()) {
            removed(kids[k]);
          } else if (k >= kids.size()) {
            added(v.items[k]);
          } else {
            walk(v.items[k], kids[k]);
          }
          path.resize(keep);
        }
        return;
      }
      auto it = v.fields.begin();
      std::size_t j = 0;
      while (it != v.fields.end() || j < kids.size()) {
        const int cmp = it == v.fields.end() ? 1
                        : j == kids.size()
                            ? -1
                            : std::string_view(it->first).compare(prev.name(kids[j]));
        append_step(path, false, cmp <= 0 ? std::string_view(it->first) : prev.name(kids[j]), 0);
        if (cmp < 0) {
          added((it++)->second);
        } else if (cmp > 0) {
          removed(kids[j++]);
        } else {
          walk((it++)->second, kids[j++]);
        }
        path.resize(keep);
      }
    }
  };
  Walk{prev, changes_, path}.walk(*in_.root, prev.root());
  std::sort(changes_.begin(), changes_.end(),
            [](const KeyChange& a, const KeyChange& b) { return a.key < b.key; });
}

}  // namespace shmconf::daemon
