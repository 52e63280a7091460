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

void merge_into(Value& base, Value overlay, bool overlay_may_have_null) {
  if (base.type != Type::kObject || overlay.type != Type::kObject) {
    if (overlay_may_have_null) drop_nulls(overlay);
    base = std::move(overlay);
    return;
  }
  if (base.fields.empty()) {
    if (overlay_may_have_null) drop_nulls(overlay);
    base.fields = std::move(overlay.fields);
    return;
  }
  // Both member lists are sorted: one merge of the two, moving keys and
  // values, then adopted whole (no insertion into the middle of a list).
  using Members = decltype(base.fields)::sequence_type;
  Members from_base = base.fields.extract_sequence();
  Members from_overlay = overlay.fields.extract_sequence();
  Members out;
  out.reserve(from_base.size() + from_overlay.size());
  auto b = from_base.begin();
  auto o = from_overlay.begin();
  while (b != from_base.end() || o != from_overlay.end()) {
    const int cmp = b == from_base.end()      ? 1
                    : o == from_overlay.end() ? -1
                                              : b->first.compare(o->first);
    if (cmp < 0) {
      out.push_back(std::move(*b++));
    } else if (cmp > 0) {
      if (o->second.type != Type::kNull) {
        drop_nulls(o->second);
        out.push_back(std::move(*o));
      }
      ++o;
    } else {
      if (o->second.type != Type::kNull) {  // a null deletes the key
        merge_into(b->second, std::move(o->second));
        out.push_back(std::move(*b));
      }
      ++b;
      ++o;
    }
  }
  base.fields.adopt_sequence(boost::container::ordered_unique_range, std::move(out));
}

}  // namespace shmconf::daemon
