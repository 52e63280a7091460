// The diff of two segments (diff_segments), and the leaf helpers it rests
// on: one walk of both trees, members paired by name, elements by position.
#include <algorithm>
#include <string>
#include <vector>

#include "shmconf/segment.hpp"

namespace shmconf {

bool is_leaf(const format::Node& n) noexcept {
  const auto t = format::node_type(n);
  if (t != format::Type::kArray && t != format::Type::kObject) return true;
  return format::high32(n.payload) == 0;
}

bool same_leaf(const SegmentView& a, const format::Node& x, const SegmentView& b,
               const format::Node& y) noexcept {
  if (format::node_type(x) != format::node_type(y)) return false;
  switch (format::node_type(x)) {
    case format::Type::kString:
      return a.string_value(x.payload) == b.string_value(y.payload);
    case format::Type::kArray:
    case format::Type::kObject:
      return format::high32(x.payload) == format::high32(y.payload);
    default:
      return x.payload == y.payload;
  }
}

namespace {

// One walk of two trees: members of objects pair up by name (both sorted),
// elements of arrays by position. `path` is the key path of the nodes being
// compared, grown and shrunk in place.
class Differ {
 public:
  Differ(const SegmentView& from, const SegmentView& to, std::string_view prefix)
      : from_(from),
        to_(to),
        prefix_(prefix),
        budget_(2 * (std::size_t{from.empty() ? 0 : from.node_count()} + to.node_count())) {}

  std::vector<SegmentChange> run() {
    const format::Node* a = from_.empty() ? nullptr : &from_.root();
    walk(a, &to_.root(), 0);
    std::sort(out_.begin(), out_.end(),
              [](const SegmentChange& x, const SegmentChange& y) { return x.key < y.key; });
    return std::move(out_);
  }

 private:
  // Could a key under `path_` start with prefix_, or does it already?
  bool relevant() const {
    const std::size_t n = std::min(path_.size(), prefix_.size());
    return path_.compare(0, n, prefix_, 0, n) == 0;
  }

  void emit(const format::Node* a, const format::Node* b, format::Change kind) {
    if (path_.size() >= prefix_.size()) out_.push_back({path_, kind, a, b});
  }

  // A step of the walk, of at most budget_: a walk of two segments as
  // open() checked them takes fewer than 1.5 per node (a pair of nodes costs
  // at most 3), so only bytes changed after open() could exhaust it.
  bool step() {
    if (budget_ == 0) return false;
    --budget_;
    return true;
  }

  // Every leaf under one side only: added (a == nullptr) or removed.
  void one_side(const SegmentView& v, const format::Node& n, bool removed, unsigned depth) {
    if (!relevant() || depth > format::kMaxDepth || !step()) return;
    if (is_leaf(n)) {
      emit(removed ? &n : nullptr, removed ? nullptr : &n,
           removed ? format::Change::kRemoved : format::Change::kAdded);
      return;
    }
    for_children(v, n, [&](const format::Node& c) { one_side(v, c, removed, depth + 1); });
  }

  template <class Fn>
  void for_children(const SegmentView& v, const format::Node& n, Fn fn) {
    const bool array = format::node_type(n) == format::Type::kArray;
    const std::size_t keep = path_.size();
    std::uint32_t k = 0;
    for (const format::Node& c : v.children(n)) {
      append(array, v.name(c), k++, keep);
      fn(c);
      path_.resize(keep);
    }
  }

  void append(bool array, std::string_view name, std::uint32_t k, std::size_t at) {
    if (array) {
      path_ += '[';
      path_ += std::to_string(k);
      path_ += ']';
    } else {
      if (at != 0) path_ += '.';
      path_ += name;
    }
  }

  void walk(const format::Node* a, const format::Node* b, unsigned depth) {
    if (!relevant() || depth > format::kMaxDepth || !step()) return;
    if (a == nullptr) return one_side(to_, *b, false, depth);
    const bool leaf_a = is_leaf(*a), leaf_b = is_leaf(*b);
    const auto ta = format::node_type(*a), tb = format::node_type(*b);
    if (leaf_a && leaf_b) {
      if (!same_leaf(from_, *a, to_, *b)) emit(a, b, format::Change::kChanged);
      return;
    }
    if (leaf_a || leaf_b || ta != tb) {
      // A leaf became a container or the other way, or an array an object:
      // the old leaves go, the new ones come.
      one_side(from_, *a, true, depth);
      one_side(to_, *b, false, depth);
      return;
    }
    if (ta == format::Type::kArray) return walk_array(*a, *b, depth);
    walk_object(*a, *b, depth);
  }

  void walk_array(const format::Node& a, const format::Node& b, unsigned depth) {
    const auto ca = from_.children(a), cb = to_.children(b);
    const std::size_t keep = path_.size();
    for (std::size_t k = 0; k < std::max(ca.size(), cb.size()); ++k) {
      append(true, {}, static_cast<std::uint32_t>(k), keep);
      if (k >= cb.size()) {
        one_side(from_, ca[k], true, depth + 1);
      } else if (k >= ca.size()) {
        one_side(to_, cb[k], false, depth + 1);
      } else {
        walk(&ca[k], &cb[k], depth + 1);
      }
      path_.resize(keep);
    }
  }

  void walk_object(const format::Node& a, const format::Node& b, unsigned depth) {
    const auto ca = from_.children(a), cb = to_.children(b);
    const std::size_t keep = path_.size();
    std::size_t i = 0, j = 0;
    while (i < ca.size() || j < cb.size()) {
      const int cmp = i == ca.size()   ? 1
                      : j == cb.size() ? -1
                                       : from_.name(ca[i]).compare(to_.name(cb[j]));
      append(false, cmp <= 0 ? from_.name(ca[i]) : to_.name(cb[j]), 0, keep);
      if (cmp < 0) {
        one_side(from_, ca[i++], true, depth + 1);
      } else if (cmp > 0) {
        one_side(to_, cb[j++], false, depth + 1);
      } else {
        walk(&ca[i++], &cb[j++], depth + 1);
      }
      path_.resize(keep);
    }
  }

  const SegmentView& from_;
  const SegmentView& to_;
  std::string_view prefix_;
  std::string path_;
  std::vector<SegmentChange> out_;
  std::size_t budget_;
};

}  // namespace

std::vector<SegmentChange> diff_segments(const SegmentView& from, const SegmentView& to,
                                         std::string_view prefix) {
  return Differ(from, to, prefix).run();
}

}  // namespace shmconf
