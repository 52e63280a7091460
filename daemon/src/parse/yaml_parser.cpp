// daemon/src/parse/yaml_parser.cpp — YAML via yaml-cpp's event API.
//
// Events rather than YAML::Node: a Node tree peaks at about 40x the input in
// memory and shares aliased subtrees, so an alias bomb costs nothing until
// someone walks it. Here each alias is expanded as it arrives, after its
// expanded size is charged against Limits::max_nodes, so a bomb fails on
// the first alias that would cross the limit, before any copy. The tree is
// built with an explicit stack and every limit is checked before a level is
// entered; throwing from a handler unwinds yaml-cpp, whose own recursion
// never gets deeper than our limit.
//
// Scalars follow the YAML 1.2 core schema; YAML 1.1 merge keys ("<<") are
// honoured because configuration files lean on them.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <istream>
#include <limits>
#include <memory>
#include <optional>
#include <streambuf>

#include "parse/parse_internal.hpp"
#include "parse/yaml_strict.hpp"

namespace shmconf::daemon::detail {
namespace {

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

// An istream over the caller's bytes, so yaml-cpp reads them without a copy.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* p = const_cast<char*>(s.data());  // the get area is only ever read
    setg(p, p, p + s.size());
  }
};

Pos to_pos(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return Pos{static_cast<std::uint32_t>(m.line) + 1, static_cast<std::uint32_t>(m.column) + 1};
}

bool core_tag(const std::string& tag, std::string_view name) {
  return tag.size() == kCoreTag.size() + name.size() && tag.starts_with(kCoreTag) &&
         tag.ends_with(name);
}

bool null_word(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_word(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

bool all_digits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                               : (c >= '0' && c < static_cast<char>('0' + base));
    if (!ok) return false;
  }
  return true;
}

std::size_t count_digits(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i - start;
}

enum class Number { kNo, kOk, kOutOfRange, kNonFinite };

// Core schema ints: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+.
Number core_int(std::string_view s, std::int64_t& out) {
  std::uint64_t u = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    const int base = s[1] == 'x' ? 16 : 8;
    const std::string_view digits = s.substr(2);
    if (!all_digits(digits, base)) return Number::kNo;
    const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
    if (res.ec != std::errc() || u > static_cast<std::uint64_t>(INT64_MAX)) {
      return Number::kOutOfRange;
    }
    out = static_cast<std::int64_t>(u);
    return Number::kOk;
  }
  std::string_view digits = s;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) digits.remove_prefix(1);
  if (!all_digits(digits, 10)) return Number::kNo;
  const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), u);
  const std::uint64_t limit = static_cast<std::uint64_t>(INT64_MAX) + (negative ? 1 : 0);
  if (res.ec != std::errc() || u > limit) return Number::kOutOfRange;
  out = negative ? static_cast<std::int64_t>(0 - u) : static_cast<std::int64_t>(u);
  return Number::kOk;
}

// Core schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
// [-+]?\.(inf|Inf|INF), \.(nan|NaN|NAN). Non-finite ones are recognised only
// to be refused: the segment format and JSON cannot carry them.
Number core_float(std::string_view s, double& out) {
  std::string_view body = s;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) body.remove_prefix(1);
  if (body == ".inf" || body == ".Inf" || body == ".INF" || s == ".nan" || s == ".NaN" ||
      s == ".NAN") {
    return Number::kNonFinite;
  }
  std::size_t i = 0;
  std::size_t digits = count_digits(body, i);
  if (i < body.size() && body[i] == '.') {
    ++i;
    digits += count_digits(body, i);
  }
  if (digits == 0) return Number::kNo;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    if (count_digits(body, i) == 0) return Number::kNo;
  }
  if (i != body.size()) return Number::kNo;
  // from_chars takes no '+', hence the sign handled here.
  const auto res = std::from_chars(body.data(), body.data() + body.size(), out);
  if (res.ec == std::errc::result_out_of_range) return Number::kOutOfRange;
  if (res.ec != std::errc() || res.ptr != body.data() + body.size()) return Number::kNo;
  if (negative) out = -out;
  return std::isfinite(out) ? Number::kOk : Number::kNonFinite;
}

class YamlConverter final : public YAML::EventHandler {
 public:
  YamlConverter(Checker& check, std::string_view text) : check_(check), text_(text) {}

  bool has_root() const { return has_root_; }
  Value take_root() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      check_.fail_no_path(to_pos(mark),
                          "more than one YAML document; a configuration file holds exactly one");
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Pos pos = to_pos(mark);
    if (expecting_key()) check_.fail(pos, "mapping key must be a non-empty string, not null");
    check_missing_colon(mark);
    if (frames_.empty()) check_.fail_no_path(pos, "empty document; the root must be a mapping");
    Value& slot = begin_node(pos, 1);
    slot = Value::null(check_.origin(pos));
    remember(anchor, slot, 1);
    end_node();
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Pos pos = to_pos(mark);
    // yaml-cpp refuses undefined anchors; one still being built is an alias
    // to itself, which would expand forever.
    if (anchor >= anchors_.size() || !anchors_[anchor].complete) {
      check_.fail(pos, "alias refers to a node that contains it");
    }
    const Anchor& a = anchors_[anchor];
    check_node_start(mark);
    if (expecting_key()) {
      frames_.back().key_offset = mark.pos;
      frames_.back().key_line = mark.line;
      if (a.value.type != Type::kString) check_.fail(pos, "mapping keys must be strings");
      take_key(a.value.s, pos, /*plain=*/false);
      return;
    }
    if (frames_.empty()) check_.fail_no_path(pos, "the root must be a mapping");
    Value& slot = begin_node(pos, 0);
    check_.count_alias(pos, a.nodes);  // the whole expansion, before copying
    check_.check_subtree_fits(a.value, pos);
    // The copy keeps the anchored origins: that is where these values were written.
    slot = a.value;
    end_node();
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& text) override {
    const Pos pos = to_pos(mark);
    check_node_start(mark);
    if (tag != "?") check_source(mark, expecting_key());
    if (expecting_key()) {
      frames_.back().key_offset = mark.pos;
      frames_.back().key_line = mark.line;
      // Keys are taken as written: "80:" is the key "80", not an integer.
      if (tag != "?" && tag != "!" && !core_tag(tag, "str")) {
        check_.fail(pos, "mapping keys must be strings, not " + tag);
      }
      take_key(text, pos, /*plain=*/tag == "?");
      if (anchor != YAML::NullAnchor) anchor_slot(anchor) = {Value::string(text), 1, true};
      return;
    }
    if (frames_.empty()) check_.fail_no_path(pos, "the root must be a mapping, got a scalar");
    Value& slot = begin_node(pos, 1);
    slot = resolve(tag, text, pos);
    remember(anchor, slot, 1);
    end_node();
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value style) override {
    start_container(mark, tag, anchor, Type::kArray, style);
  }
  void OnSequenceEnd() override { end_container(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value style) override {
    start_container(mark, tag, anchor, Type::kObject, style);
  }
  void OnMapEnd() override { end_container(); }

 private:
  struct Frame {
    Value* value = nullptr;
    YAML::anchor_t anchor = YAML::NullAnchor;
    std::size_t nodes_before = 0;  // values counted before this one, for its anchor
    Value* pending = nullptr;      // mappings: where the current key's value goes
    bool have_key = false;         // mappings: a key awaits its value
    std::unique_ptr<Value> merge;  // mappings: the "<<" value, applied at the end
    Members* members = nullptr;    // mappings: members so far, file order
    bool block = false;            // block style (not a flow collection)
    std::size_t column = 0;        // 0-based column of its first key or '-'
    std::size_t flow_min = 0;      // flow: least column of a node on a later line
    int key_offset = -1;           // mappings: byte offset of the current key
    int key_line = -1;             // mappings: 0-based line of the current key
  };

  struct Anchor {
    Value value;
    std::size_t nodes = 0;  // values it expands to
    bool complete = false;
  };

  bool expecting_key() const {
    return !frames_.empty() && frames_.back().value->type == Type::kObject &&
           !frames_.back().have_key;
  }

  Anchor& anchor_slot(YAML::anchor_t id) {
    if (id >= anchors_.size()) anchors_.resize(id + 1);
    return anchors_[id];
  }

  void remember(YAML::anchor_t anchor, const Value& v, std::size_t nodes) {
    if (anchor != YAML::NullAnchor) anchor_slot(anchor) = {v, nodes, true};
  }

  void take_key(const std::string& key, Pos pos, bool plain) {
    Frame& f = frames_.back();
    if (plain && key == "<<") {
      if (f.merge) check_.fail_duplicate_key(key, pos);
      f.merge = std::make_unique<Value>();
      f.pending = f.merge.get();
      check_.push_key(kMergeKey, pos);
      f.have_key = true;
      return;
    }
    check_.validate_key(key, pos, /*utf8_known_valid=*/false);
    // The slot and its key stay put until the next add(), after this
    // member's value is complete and its path component popped.
    f.pending = &f.members->add(key, pos, check_);
    check_.push_key(f.members->last_key(), pos);
    f.have_key = true;
  }

  // The slot the next node fills, with its path pushed and its values
  // counted (`nodes` > 1 for an alias).
  Value& begin_node(Pos pos, std::size_t nodes) {
    if (frames_.empty()) {
      has_root_ = true;
      check_.count(pos, nodes);
      return root_;
    }
    Frame& f = frames_.back();
    Value* slot = f.pending;
    if (f.value->type == Type::kArray) {
      check_.push_index(f.value->items.size(), pos);
      slot = &f.value->items.emplace_back();
    }
    f.have_key = false;
    check_.count(pos, nodes);
    return *slot;
  }

  void end_node() {
    if (!frames_.empty()) check_.pop();
  }

  void check_container_tag(const std::string& tag, Type type, Pos pos) const {
    if (tag == "?" || tag == "!" || core_tag(tag, type == Type::kObject ? "map" : "seq")) return;
    check_.fail(pos, "unsupported tag " + tag);
  }

  void start_container(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       Type type, YAML::EmitterStyle::value style) {
    const Pos pos = to_pos(mark);
    check_node_start(mark);
    std::size_t flow_min = 0;
    if (!frames_.empty()) {
      flow_min = frames_.back().block ? frames_.back().column + 1 : frames_.back().flow_min;
    }
    if (expecting_key()) {
      check_.fail(pos, "mapping keys must be strings; complex keys are not supported");
    }
    if (frames_.empty() && type != Type::kObject) {
      check_.fail_no_path(pos, "the root must be a mapping, got a sequence");
    }
    check_container_tag(tag, type, pos);
    Value& slot = begin_node(pos, 1);
    check_.enter_container(pos);
    slot.type = type;
    slot.origin = check_.origin(pos);
    Frame& frame = frames_.emplace_back();
    frame.value = &slot;
    if (type == Type::kObject) frame.members = &members_.at(check_.depth());
    frame.anchor = anchor;
    frame.nodes_before = check_.nodes() - 1;
    frame.block = style != YAML::EmitterStyle::Flow;
    frame.column = mark.column > 0 ? static_cast<std::size_t>(mark.column) : 0;
    frame.flow_min = flow_min;
  }

  // yaml_strict.hpp: inside a flow collection, a node that starts a line is
  // indented past the block key or '-' that holds the collection; an anchor
  // or tag on a line of its own, past its key.
  void check_node_start(const YAML::Mark& mark) const {
    if (frames_.empty() || mark.pos < 0 || mark.column < 0) return;
    const Frame& f = frames_.back();
    if (!f.block && static_cast<std::size_t>(mark.column) < f.flow_min) {
      check_.fail(to_pos(mark),
                  "invalid YAML: a line inside a flow collection ('[...]', "
                  "'{...}') must be indented more than its key or '-'");
    }
    if (!f.block || f.value->type != Type::kObject || !f.have_key) return;
    const auto at = static_cast<std::size_t>(mark.pos);
    if (auto e = check_properties(text_, at, f.column + 1, mark.line == f.key_line)) {
      Pos p = to_pos(mark);
      advance_position(text_, at, e->offset, p.line, p.column);
      check_.fail(p, "invalid YAML: " + e->message);
    }
  }

  // yaml_strict.hpp: a quoted or block scalar yaml-cpp accepted that YAML
  // does not. Multi-line quoted values of block collections must be
  // indented past their key or '-'.
  void check_source(const YAML::Mark& mark, bool key) const {
    if (mark.pos < 0) return;
    const auto at = static_cast<std::size_t>(mark.pos);
    std::size_t indent = 0;
    if (!key && !frames_.empty() && frames_.back().block) indent = frames_.back().column + 1;
    auto error = check_quoted_scalar(text_, at, indent);
    const std::size_t parent = frames_.empty() ? 0 : frames_.back().column;
    if (!error) error = check_block_header(text_, at, parent);
    if (!error) return;
    Pos p = to_pos(mark);
    advance_position(text_, at, error->offset, p.line, p.column);
    check_.fail(p, "invalid YAML: " + error->message);
  }

  // yaml-cpp reads a line holding only "word" in a block mapping as the key
  // "word" with an empty value, and marks that value where the key starts;
  // "word:" marks it after the ':'. Layering would then delete the key.
  void check_missing_colon(const YAML::Mark& mark) const {
    if (frames_.empty()) return;
    const Frame& f = frames_.back();
    if (!f.block || f.value->type != Type::kObject || !f.have_key) return;
    if (mark.pos < 0 || mark.pos != f.key_offset) return;
    check_.fail(to_pos(mark),
                "invalid YAML: this key has no ':' (a line in a mapping needs \"key: value\")");
  }

  void end_container() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    if (f.members != nullptr) f.members->finish(*f.value, check_);
    if (f.merge) apply_merge(*f.value, std::move(*f.merge));
    check_.leave_container();
    // Nothing can alias the root once it is complete (one document per file).
    if (!frames_.empty()) remember(f.anchor, *f.value, check_.nodes() - f.nodes_before);
    end_node();
  }

  // YAML 1.1 merge: keys written in the mapping win over merged ones, and
  // earlier mappings in a "<<" list win over later ones.
  void apply_merge(Value& target, Value merge) const {
    auto merge_one = [&](Value& from) {
      if (from.type != Type::kObject) {
        check_.fail(Pos{from.origin.line, from.origin.column},
                    "'<<' (merge key) takes a mapping or a list of mappings");
      }
      for (auto& [key, value] : from.fields) target.fields.try_emplace(key, std::move(value));
    };
    if (merge.type == Type::kArray) {
      for (Value& item : merge.items) merge_one(item);
    } else {
      merge_one(merge);
    }
  }

  Value resolve(const std::string& tag, const std::string& text, Pos pos) const {
    const Origin o = check_.origin(pos);
    const bool plain = tag == "?";
    if (tag == "!" || core_tag(tag, "str")) return string_value(text, pos);
    if (!plain && !core_tag(tag, "null") && !core_tag(tag, "bool") && !core_tag(tag, "int") &&
        !core_tag(tag, "float")) {
      check_.fail(pos, "unsupported tag " + tag);
    }
    if ((plain || core_tag(tag, "null")) && null_word(text)) return Value::null(o);
    if (plain || core_tag(tag, "bool")) {
      if (const std::optional<bool> b = bool_word(text)) return Value::boolean(*b, o);
    }
    if (plain || core_tag(tag, "int")) {
      std::int64_t i = 0;
      switch (core_int(text, i)) {
        case Number::kOk:
          return Value::integer(i, o);
        case Number::kOutOfRange:
          check_.fail(pos, "integer " + text + " does not fit in int64");
        default:
          break;
      }
    }
    if (plain || core_tag(tag, "float")) {
      double d = 0;
      switch (core_float(text, d)) {
        case Number::kOk:
          return Value::real(d, o);
        case Number::kOutOfRange:
          check_.fail(pos, "float " + text + " is out of range for a double");
        case Number::kNonFinite:
          check_.fail(pos, "float " + text + " is not finite; only finite numbers are allowed");
        case Number::kNo:
          break;
      }
    }
    if (plain) return string_value(text, pos);
    check_.fail(pos, quote(text) + " is not a valid " + tag.substr(kCoreTag.size()));
  }

  Value string_value(const std::string& text, Pos pos) const {
    check_.check_string(text, pos);
    return Value::string(text, check_.origin(pos));
  }

  static constexpr std::string_view kMergeKey = "<<";

  Checker& check_;
  std::string_view text_;
  MemberStack members_;
  Value root_;
  bool has_root_ = false;
  int documents_ = 0;
  std::vector<Frame> frames_;
  std::vector<Anchor> anchors_;  // by yaml-cpp anchor id (dense, from 1)
};

}  // namespace

Value parse_yaml(std::string_view text, Checker& check) {
  ViewBuf buf(text);
  std::istream in(&buf);
  YamlConverter converter(check, text);
  try {
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(converter) || !converter.has_root()) {
      check.fail_no_path({}, "empty document; the root must be a mapping");
    }
    // A second document is refused by OnDocumentStart as soon as it starts.
    parser.HandleNextDocument(converter);
  } catch (const YAML::Exception& e) {
    // DeepRecursion included, though our depth limit is far below yaml-cpp's.
    const Pos p = to_pos(e.mark);
    throw ConfigError(check.file(), p.line, p.column, check.path(), "invalid YAML: " + e.msg);
  }
  return converter.take_root();
}

}  // namespace shmconf::daemon::detail
