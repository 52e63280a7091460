// daemon/src/parse/merge.cpp — merge_into(): JSON Merge Patch (RFC 7386).
//
// Recursion is bounded by the trees' depth, which the parsers cap.
#include "parse/parse.hpp"

namespace shmconf::daemon {
namespace {

// What RFC 7386 does to an object the patch adds where base had none: its
// nulls mean "absent" too.
void drop_nulls(Value& v) {
  if (v.type != Type::kObject) return;
  for (auto it = v.fields.begin(); it != v.fields.end();) {
    if (it->second.type == Type::kNull) {
      it = v.fields.erase(it);
    } else {
      drop_nulls(it->second);
      ++it;
    }
  }
}

}  // namespace

void merge_into(Value& base, Value overlay) {
  if (base.type != Type::kObject || overlay.type != Type::kObject) {
    drop_nulls(overlay);
    base = std::move(overlay);
    return;
  }
  // Node handles move keys and values without copying either.
  while (!overlay.fields.empty()) {
    auto node = overlay.fields.extract(overlay.fields.begin());
    auto it = base.fields.find(node.key());
    if (node.mapped().type == Type::kNull) {
      if (it != base.fields.end()) base.fields.erase(it);
    } else if (it == base.fields.end()) {
      drop_nulls(node.mapped());
      base.fields.insert(std::move(node));
    } else {
      merge_into(it->second, std::move(node.mapped()));
    }
  }
}

}  // namespace shmconf::daemon
