// daemon/src/parse/parse_internal.hpp — what the three parsers share: the
// rule checks, the key path of the value being converted, positions.
//
// Private to daemon/src/parse/. Not thread-safe: one Checker per parse.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parse/parse.hpp"

namespace shmconf::daemon::detail {

// Zeroed bytes parse_file leaves after the text, so the JSON parser reads
// the file buffer in place (simdjson reads up to SIMDJSON_PADDING past the
// end; json_parser.cpp static_asserts that this covers it).
inline constexpr std::size_t kJsonPadding = 64;

struct Pos {
  std::uint32_t line = 0;    // 1-based, 0 = unknown
  std::uint32_t column = 0;  // 1-based, in bytes, 0 = unknown
};

// Byte offset -> line and column. Parsers ask in increasing order, so each
// query counts the newlines since the previous one: linear in the input
// overall, with no per-line table to allocate and fault in (a 10 MB file
// has some 600k lines). A query behind the cursor (only on error paths)
// counts again from the start.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : text_(text) {}
  Pos locate(std::size_t offset) const;

 private:
  std::string_view text_;
  mutable std::size_t offset_ = 0;      // cursor: a byte offset ...
  mutable std::size_t line_ = 0;        // ... its 0-based line ...
  mutable std::size_t line_start_ = 0;  // ... and where that line starts
};

// Offset of the first byte that is not part of valid UTF-8 (RFC 3629: no
// overlongs, surrogates or code points above U+10FFFF), or text.size().
std::size_t first_invalid_utf8(std::string_view text);
bool valid_utf8(std::string_view text);

// Enforces the rules every parser shares and tracks the key path of the
// value being converted. Path components are views: the key a push_key()
// names must stay alive until its pop() (the parsers pass the key stored in
// the tree, whose std::map node never moves). The path string is only
// built when an error needs it, so the happy path allocates nothing here.
class Checker {
 public:
  Checker(const std::string& file, std::uint32_t source, const Limits& limits);

  const std::string& file() const { return file_; }
  const Limits& limits() const { return limits_; }
  std::uint32_t max_depth() const { return max_depth_; }
  std::uint32_t depth() const { return depth_; }
  std::size_t nodes() const { return nodes_; }
  std::size_t path_length() const { return path_.empty() ? 0 : path_.back().length; }
  std::string path() const;

  Origin origin(Pos p) const { return Origin{source_, p.line, p.column}; }

  // Throws ConfigError naming the file, `p` and the current path.
  [[noreturn]] void fail(Pos p, std::string message) const;
  // Same, with no key path (errors found before any value exists).
  [[noreturn]] void fail_no_path(Pos p, std::string message) const;

  // Accounts for `n` more values (an alias expands to many).
  void count(Pos p, std::size_t n = 1) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes) fail_too_many(p);
  }
  // Accounts for the `n` values an alias expands to; checked before the
  // copy is made, so an alias bomb fails on the alias that crosses a limit.
  void count_alias(Pos p, std::size_t n) {
    alias_nodes_ += n;
    if (alias_nodes_ > limits_.max_alias_nodes) fail_alias_bomb(p);
    count(p, n);
  }
  // Before descending into a container at the current path.
  void enter_container(Pos p) {
    if (depth_ >= max_depth_) fail_too_deep(p);
    ++depth_;
  }
  void leave_container() { --depth_; }

  // Checks `key` as a mapping key under the current path (`p` is the key's
  // position). UTF-8 validity is skipped when the parser already proved it.
  void validate_key(std::string_view key, Pos p, bool utf8_known_valid) const;
  // What validate_key() checks of a key known to be valid UTF-8, without
  // failing: a parser that has the key's position only as an offset asks
  // this first and locates the key only to report it.
  bool key_acceptable(std::string_view key) const {
    return !key.empty() && key.size() <= limits_.max_key_length &&
           find_path_separator(key) == std::string_view::npos;
  }
  [[noreturn]] void fail_duplicate_key(std::string_view key, Pos p) const;
  // Makes `key` (already validated) or element `i` the current path.
  void push_key(std::string_view key, Pos p);
  void push_index(std::size_t i, Pos p);
  // The same when the path stays within its limit, else false and nothing
  // pushed (then push_key()/push_index() with the position fails).
  bool try_push_key(std::string_view key) {
    const std::size_t length = key_path_length(path_length(), key.size());
    if (length > limits_.max_path_length) return false;
    path_.push_back(Component{key, 0, false, length});
    return true;
  }
  bool try_push_index(std::size_t i) {
    const std::size_t length = index_path_length(path_length(), i);
    if (length > limits_.max_path_length) return false;
    path_.push_back(Component{{}, i, true, length});
    return true;
  }
  void pop() { path_.pop_back(); }

  // Strings must be valid UTF-8 (YAML and TOML: the library does not check).
  void check_string(std::string_view s, Pos p) const {
    if (!valid_utf8(s)) fail_bad_utf8(s, p);
  }

  // The length a path reaches with one more component.
  static std::size_t key_path_length(std::size_t parent, std::size_t key_size) {
    return parent == 0 ? key_size : parent + 1 + key_size;
  }
  static std::size_t index_path_length(std::size_t parent, std::size_t i);

  // Depth and path limits for a finished subtree copied (a YAML alias) to
  // the current path: it was checked where it was defined, not here.
  void check_subtree_fits(const Value& v, Pos p) const;

 private:
  struct Component {
    std::string_view key;
    std::size_t index;
    bool is_index;
    std::size_t length;  // of the path up to and including this component
  };

  [[noreturn]] void fail_too_many(Pos p) const;
  [[noreturn]] void fail_alias_bomb(Pos p) const;
  [[noreturn]] void fail_too_deep(Pos p) const;
  [[noreturn]] void fail_path_too_long(std::string_view component, std::size_t length, Pos p) const;
  [[noreturn]] void fail_bad_utf8(std::string_view s, Pos p) const;
  void check_subtree(const Value& v, std::uint32_t depth, std::size_t path_length, Pos p) const;

  const std::string& file_;
  std::uint32_t source_;
  const Limits& limits_;
  std::uint32_t max_depth_;
  std::uint32_t depth_ = 0;
  std::size_t nodes_ = 0;
  std::size_t alias_nodes_ = 0;
  std::vector<Component> path_;
};

// The members of one object being parsed, in the order the file writes
// them; finish() sorts them once (when the file did not) and hands them to
// the object whole, in one exactly sized block. Value::fields is a flat
// map: inserting each member at its sorted place would move the later ones
// every time, quadratic in a large object written out of order. A parser
// keeps one Members per nesting level (MemberStack) and reuses its buffers
// for every object at that level.
class Members {
 public:
  void clear() {
    members_.clear();
    marks_.clear();
    lines_ = nullptr;
    sorted_ = true;
  }
  // Appends `key` (already validated) and returns its value's slot, valid
  // until the next add(). A key equal to the previous one fails at once;
  // other duplicates fail in finish().
  Value& add(std::string_view key, Pos pos, const Checker& check);
  // The same with the key's byte offset, which `lines` turns into a line
  // and column only if the key turns out a duplicate: the JSON parser
  // locates only values on the happy path. One kind of add() per object.
  Value& add(std::string_view key, std::size_t offset, const LineIndex& lines,
             const Checker& check);
  void finish(Value& object, const Checker& check);
  std::string_view last_key() const { return members_.back().first; }

 private:
  bool adjacent_duplicate(std::string_view key) {
    if (members_.empty() || !sorted_) return false;
    const int cmp = members_.back().first.compare(key);
    if (cmp > 0) sorted_ = false;
    return cmp == 0;
  }
  Value& append(std::string_view key, std::uint64_t mark);
  Pos position(std::size_t i) const;

  decltype(Value::fields)::sequence_type members_;
  // Where each key is, for a duplicate's error: a packed Pos, or with
  // lines_ set a byte offset into the text lines_ indexes.
  std::vector<std::uint64_t> marks_;
  const LineIndex* lines_ = nullptr;
  struct SortEntry {
    std::uint64_t prefix;  // key_prefix(key)
    std::string_view key;  // into members_
    std::uint32_t index;   // into members_
  };
  static std::uint64_t key_prefix(std::string_view key);
  std::vector<SortEntry> sort_;
  bool sorted_ = true;
};

// One Members (objects) and one item buffer (arrays) per nesting level, at
// stable addresses, reused for every container at that level: a container
// then costs one exactly sized allocation, not one per doubling.
class MemberStack {
 public:
  MemberStack() : levels_(format::kMaxDepth + 1), items_(format::kMaxDepth + 1) {}
  // The (cleared) Members for an object at `depth` (Checker::depth()).
  Members& at(std::uint32_t depth) {
    Members& m = levels_[std::min<std::size_t>(depth, levels_.size() - 1)];
    m.clear();
    return m;
  }
  // The (cleared) item buffer for an array at `depth`; move it into the
  // array with take_items().
  std::vector<Value>& items_at(std::uint32_t depth) {
    std::vector<Value>& v = items_[std::min<std::size_t>(depth, items_.size() - 1)];
    v.clear();
    return v;
  }
  static void take_items(std::vector<Value>& from, Value& array) {
    array.items.reserve(from.size());
    for (Value& v : from) array.items.push_back(std::move(v));
    from.clear();
  }

 private:
  std::vector<Members> levels_;
  std::vector<std::vector<Value>> items_;
};

// Quotes `s` for an error message (JSON escaping, cut after `max` bytes).
std::string quote(std::string_view s, std::size_t max = 64);

// The per-format parsers. `text` is the whole input; for JSON, `capacity`
// is how many bytes are readable from text.data() (at least text.size() +
// kJsonPadding, or the parser copies).
Value parse_json(std::string_view text, std::size_t capacity, Checker& check);
Value parse_yaml(std::string_view text, Checker& check);
Value parse_toml(std::string_view text, Checker& check);

}  // namespace shmconf::daemon::detail
