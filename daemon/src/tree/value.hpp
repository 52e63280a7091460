// daemon/src/tree/value.hpp — the daemon's in-memory configuration tree.
//
// Every parser produces a Value; sources are merged into one Value; the
// snapshot builder flattens it into a segment. Values remember where they
// came from (Origin) so errors and provenance can name file:line:column.
//
// Thread-safety: plain data, no sharing. Cost: one block per container (a
// vector of items or of members), plus strings longer than the standard
// library's small-string buffer; the daemon never touches these on a
// client's read path.
#pragma once

#include <boost/container/flat_map.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "shmconf/format.hpp"

namespace shmconf::daemon {

using format::Type;

// Where a value was set: an index into the namespace's source list (see
// SourceList) and a 1-based line and column, 0 when unknown.
struct Origin {
  std::uint32_t source = format::kNoSource;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct Value {
  Type type = Type::kNull;
  Origin origin;  // beside `type`, in what would be padding
  // kBool, kInt, kDouble: read only the member the type names. One word
  // for the three keeps a Value (and every walk over a tree) smaller.
  union {
    bool b;
    std::int64_t i = 0;
    double d;
  };
  std::string s;             // kString
  std::vector<Value> items;  // kArray
  // kObject, sorted bytewise. A flat map: members lie contiguous, so a walk
  // reads memory in order, an object costs one allocation instead of one
  // per member, and freeing a tree frees one block per container. Inserting
  // moves later members: hold no reference into `fields` across an insert.
  boost::container::flat_map<std::string, Value, std::less<>> fields;

  static Value null(Origin o = {}) { return make(Type::kNull, o); }
  static Value boolean(bool v, Origin o = {}) {
    auto x = make(Type::kBool, o);
    x.b = v;
    return x;
  }
  static Value integer(std::int64_t v, Origin o = {}) {
    auto x = make(Type::kInt, o);
    x.i = v;
    return x;
  }
  static Value real(double v, Origin o = {}) {
    auto x = make(Type::kDouble, o);
    x.d = v;
    return x;
  }
  static Value string(std::string v, Origin o = {}) {
    auto x = make(Type::kString, o);
    x.s = std::move(v);
    return x;
  }
  static Value array(Origin o = {}) { return make(Type::kArray, o); }
  static Value object(Origin o = {}) { return make(Type::kObject, o); }

  bool is_container() const { return type == Type::kArray || type == Type::kObject; }
  // Structural equality of content (origins ignored).
  friend bool operator==(const Value& a, const Value& b);

 private:
  static Value make(Type t, Origin o) {
    Value v;
    v.type = t;
    v.origin = o;
    return v;
  }
};

// The sources of one namespace, in priority order (later wins). A Value's
// Origin::source indexes this list. Names are what operators see:
// "file:/etc/app/base.yaml", "env:APP_", "override", "state:v12".
using SourceList = std::vector<std::string>;

// A configuration error with a position: formats as
// "file:line:col: key.path: message" (parts that are unknown are omitted).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::uint32_t line, std::uint32_t column, std::string key_path,
              std::string message);
  const std::string& file() const { return file_; }
  std::uint32_t line() const { return line_; }
  std::uint32_t column() const { return column_; }
  const std::string& key_path() const { return key_path_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  std::uint32_t line_;
  std::uint32_t column_;
  std::string key_path_;
  std::string message_;
};

// The value at key path `path` ("a.b", "servers[2].host", "" = the root) in
// `root`, or nullptr.
const Value* find_path(const Value& root, std::string_view path);

// Canonical JSON: object keys in bytewise order, no insignificant
// whitespace unless `pretty`, integers as integers, doubles in the shortest
// form that round-trips (always with a '.' or exponent), strings escaped
// per RFC 8259. content_hash() is XXH3-64 of the compact form.
std::string to_json(const Value& v, bool pretty = false);
std::uint64_t content_hash(const Value& v);

// The offset of the first '.', '[' or ']' in `s` (what a key name may not
// hold: they separate key paths), or npos. A byte loop: find_first_of would
// call memchr over its three-byte set once per byte of the name, and this
// runs for every key of every reload.
inline std::size_t find_path_separator(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.' || c == '[' || c == ']') return i;
  }
  return std::string_view::npos;
}

// Appends `s` to `out` as a JSON string literal.
void append_json_string(std::string& out, std::string_view s);

}  // namespace shmconf::daemon
