// daemon/src/parse/toml_parser.cpp — TOML via toml++.
//
// toml++ already refuses duplicate keys, integers beyond int64, invalid
// UTF-8 and inline nesting past 256 levels. It does not bound the nesting
// that dotted keys and table headers create, and it recurses once per level
// after parsing: a 60000-component key (`a.a.a…a = 1`) overflows the main
// thread's stack. So a lexical scan bounds the depth before toml++ sees
// the text; the exact checks run on the finished tree.
#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "parse/parse_internal.hpp"

namespace shmconf::daemon::detail {
namespace {

// Nesting as the text spells it: root 1, a header adds one level per key
// component (two more for [[array.of.tables]]), a dotted key one level per
// component but the last, arrays and inline tables one each. A header can
// only name more levels than it spells (through an array of tables), never
// fewer, so refusing lexical depth > max_depth refuses nothing the exact
// check would accept. The scan must accept all valid TOML; on text it cannot
// follow it stops and leaves the error to toml++, which fails there before
// building anything deeper than what was already scanned.
class TomlDepthScan {
 public:
  TomlDepthScan(std::string_view text, const Checker& check)
      : text_(text), check_(check), max_(check.max_depth()) {}

  void run() {
    std::uint32_t table_depth = 1;
    while (i_ < text_.size()) {
      skip_blanks();
      if (i_ >= text_.size()) return;
      const char c = text_[i_];
      if (c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        skip_comment();
      } else if (c == '[') {
        const std::size_t start = i_;
        const bool array_of_tables = peek(1) == '[';
        i_ += array_of_tables ? 2 : 1;
        const std::optional<std::uint32_t> parts = key();
        if (!parts || peek(0) != ']') return;
        table_depth = 1 + *parts + (array_of_tables ? 1 : 0);
        limit(table_depth, start);
        skip_to_newline();  // the rest of a header line is "]" and a comment
      } else {
        const std::size_t start = i_;
        const std::optional<std::uint32_t> parts = key();
        if (!parts || peek(0) != '=') return;
        ++i_;
        // The value's parent: the table plus the key's dotted prefix.
        limit(table_depth + *parts - 1, start);
        if (!value(table_depth + *parts - 1)) return;
      }
    }
  }

 private:
  char peek(std::size_t ahead) const {
    return i_ + ahead < text_.size() ? text_[i_ + ahead] : '\0';
  }
  void skip_blanks() {
    while (i_ < text_.size() && (text_[i_] == ' ' || text_[i_] == '\t')) ++i_;
  }
  void skip_to_newline() {
    while (i_ < text_.size() && text_[i_] != '\n') ++i_;
  }
  void skip_comment() { skip_to_newline(); }

  void limit(std::uint32_t depth, std::size_t at) const {
    if (depth > max_) {
      check_.fail_no_path(LineIndex(text_).locate(at),
                          "nesting deeper than " + std::to_string(max_) + " levels");
    }
  }

  // A quoted string at i_; false if it is not terminated (toml++ reports it).
  bool string() {
    const char q = text_[i_];
    const bool multi = peek(1) == q && peek(2) == q;
    i_ += multi ? 3 : 1;
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == '\\' && q == '"') {
        i_ += 2;
      } else if (c == q && (!multi || (peek(1) == q && peek(2) == q))) {
        i_ += multi ? 3 : 1;
        // Up to two more quotes may close a multi-line string: """a"""" is a".
        for (int extra = 0; multi && extra < 2 && peek(0) == q; ++extra) ++i_;
        return true;
      } else if (c == '\n' && !multi) {
        return false;
      } else {
        ++i_;
      }
    }
    return false;
  }

  // A possibly dotted key at i_; the number of components, or nullopt if
  // what is there is not a key. Bare keys are taken loosely (any run of
  // non-delimiters) so that no valid key stops the scan.
  std::optional<std::uint32_t> key() {
    std::uint32_t parts = 0;
    for (;;) {
      skip_blanks();
      if (i_ >= text_.size()) return std::nullopt;
      const char c = text_[i_];
      if (c == '"' || c == '\'') {
        if (!string()) return std::nullopt;
      } else {
        const std::size_t start = i_;
        while (i_ < text_.size() && !delimiter(text_[i_])) ++i_;
        if (i_ == start) return std::nullopt;
      }
      if (parts < UINT32_MAX / 2) ++parts;
      skip_blanks();
      if (peek(0) != '.') return parts;
      ++i_;
    }
  }

  static bool delimiter(char c) {
    switch (c) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
      case '.':
      case '=':
      case '[':
      case ']':
      case '{':
      case '}':
      case '"':
      case '\'':
      case '#':
      case ',':
        return true;
      default:
        return false;
    }
  }

  // One value whose parent container sits at `parent`, through the end of
  // its line; false if the scan has to stop.
  bool value(std::uint32_t parent) {
    struct Open {
      char kind;  // '[' or '{'
      std::uint32_t depth;
    };
    std::vector<Open> open;
    while (i_ < text_.size()) {
      const std::size_t at = i_;
      const char c = text_[i_];
      switch (c) {
        case '"':
        case '\'':
          if (!string()) return false;
          break;
        case '#':
          skip_comment();
          break;
        case '\n':
          ++i_;
          if (open.empty()) return true;
          break;
        case '[':
        case '{': {
          ++i_;
          const std::uint32_t depth = parent + 1;
          limit(depth, at);
          open.push_back({c, depth});
          parent = depth;
          if (c == '{' && !inline_key(depth, parent)) return false;
          break;
        }
        case ']':
        case '}':
          ++i_;
          if (open.empty() || open.back().kind != (c == ']' ? '[' : '{')) return false;
          open.pop_back();
          // Back in an array, the next element's parent is that array; in an
          // inline table the next ',' names it.
          if (!open.empty() && open.back().kind == '[') parent = open.back().depth;
          break;
        case ',':
          ++i_;
          if (!open.empty() && open.back().kind == '{' && !inline_key(open.back().depth, parent)) {
            return false;
          }
          break;
        default:
          ++i_;  // numbers, booleans, dates, blanks
      }
    }
    return true;
  }

  // After '{' or ',' in the inline table at depth `table`: the next key, or
  // the closing '}'. Sets `parent` to the table the key's value goes in.
  bool inline_key(std::uint32_t table, std::uint32_t& parent) {
    skip_blanks();
    if (peek(0) == '}') return true;
    const std::size_t start = i_;
    const std::optional<std::uint32_t> parts = key();
    if (!parts || peek(0) != '=') return false;
    ++i_;
    parent = table + *parts - 1;
    limit(parent, start);
    return true;
  }

  std::string_view text_;
  const Checker& check_;
  std::uint32_t max_;
  std::size_t i_ = 0;
};

std::string two_digits(unsigned v) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02u", v % 100);
  return buf;
}

std::string format_date(const toml::date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02u", static_cast<unsigned>(d.year),
                static_cast<unsigned>(d.month), static_cast<unsigned>(d.day));
  return buf;
}

// RFC 3339 partial-time: fractional seconds only when present, trailing
// zeros trimmed, as toml++ prints them.
std::string format_time(const toml::time& t) {
  std::string out = two_digits(t.hour) + ':' + two_digits(t.minute) + ':' + two_digits(t.second);
  if (t.nanosecond != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ".%09u", static_cast<unsigned>(t.nanosecond));
    std::string_view frac(buf);
    while (frac.back() == '0') frac.remove_suffix(1);
    out += frac;
  }
  return out;
}

std::string format_date_time(const toml::date_time& dt) {
  std::string out = format_date(dt.date) + 'T' + format_time(dt.time);
  if (dt.offset) {
    const int minutes = dt.offset->minutes;
    if (minutes == 0) {
      out += 'Z';
    } else {
      const unsigned abs = static_cast<unsigned>(minutes < 0 ? -minutes : minutes);
      out += minutes < 0 ? '-' : '+';
      out += two_digits(abs / 60) + ':' + two_digits(abs % 60);
    }
  }
  return out;
}

class TomlConverter {
 public:
  explicit TomlConverter(Checker& check) : check_(check) {}

  void convert_table(const toml::table& table, Value& out) {
    // toml::table iterates in key order, which is our order too.
    for (auto&& [key, node] : table) {
      const Pos key_pos = pos_of(key.source());
      check_.validate_key(key.str(), key_pos, /*utf8_known_valid=*/false);
      auto it = out.fields.emplace_hint(out.fields.end(), std::piecewise_construct,
                                        std::forward_as_tuple(key.str()), std::forward_as_tuple());
      check_.push_key(it->first, key_pos);
      convert(node, it->second, key_pos);
      check_.pop();
    }
  }

 private:
  static Pos pos_of(const toml::source_region& r) { return Pos{r.begin.line, r.begin.column}; }

  // `fallback`: tables made implicitly by a dotted key or header have no
  // region of their own; the key that made them is the best position.
  void convert(const toml::node& node, Value& out, Pos fallback) {
    Pos pos = pos_of(node.source());
    if (pos.line == 0) pos = fallback;
    out.origin = check_.origin(pos);
    check_.count(pos);
    switch (node.type()) {
      case toml::node_type::table:
        check_.enter_container(pos);
        out.type = Type::kObject;
        convert_table(*node.as_table(), out);
        check_.leave_container();
        return;
      case toml::node_type::array: {
        check_.enter_container(pos);
        out.type = Type::kArray;
        const toml::array& array = *node.as_array();
        out.items.reserve(array.size());
        for (std::size_t i = 0; i < array.size(); ++i) {
          const toml::node& item = array[i];
          Pos item_pos = pos_of(item.source());
          if (item_pos.line == 0) item_pos = pos;
          check_.push_index(i, item_pos);
          convert(item, out.items.emplace_back(), item_pos);
          check_.pop();
        }
        check_.leave_container();
        return;
      }
      case toml::node_type::string: {
        const std::string& s = node.as_string()->get();
        check_.check_string(s, pos);
        out.type = Type::kString;
        out.s = s;
        return;
      }
      case toml::node_type::integer:
        out.type = Type::kInt;
        out.i = node.as_integer()->get();
        return;
      case toml::node_type::floating_point: {
        const double d = node.as_floating_point()->get();
        if (!std::isfinite(d))
          check_.fail(pos, "float is not finite; only finite numbers are allowed");
        out.type = Type::kDouble;
        out.d = d;
        return;
      }
      case toml::node_type::boolean:
        out.type = Type::kBool;
        out.b = node.as_boolean()->get();
        return;
      // Dates and times become RFC 3339 text: the segment has no date type.
      case toml::node_type::date:
        out.type = Type::kString;
        out.s = format_date(node.as_date()->get());
        return;
      case toml::node_type::time:
        out.type = Type::kString;
        out.s = format_time(node.as_time()->get());
        return;
      case toml::node_type::date_time:
        out.type = Type::kString;
        out.s = format_date_time(node.as_date_time()->get());
        return;
      case toml::node_type::none:
        break;
    }
    check_.fail(pos, "unsupported TOML value");
  }

  Checker& check_;
};

}  // namespace

Value parse_toml(std::string_view text, Checker& check) {
  TomlDepthScan(text, check).run();
  toml::table table;
  try {
    // No source path: our errors name the file, and toml++ would otherwise
    // hang a reference to it on every node.
    table = toml::parse(text, std::string_view{});
  } catch (const toml::parse_error& e) {
    const toml::source_position& p = e.source().begin;
    check.fail_no_path(Pos{p.line, p.column}, "invalid TOML: " + std::string(e.description()));
  }
  // TOML's empty document is an empty table; refuse it like the other
  // formats' empty document, since it is what a truncated write looks like.
  if (table.empty()) check.fail_no_path({}, "empty document; the root must be a mapping");
  Value root = Value::object(check.origin(Pos{1, 1}));
  check.count(Pos{1, 1});
  check.enter_container(Pos{1, 1});
  TomlConverter(check).convert_table(table, root);
  check.leave_container();
  return root;
}

}  // namespace shmconf::daemon::detail
