// daemon/src/validate/validate_internal.hpp — what validate.cpp (sensitive
// keys, plaintext secrets, guards) and schema.cpp (JSON Schema, the only
// valijson user) share. Private to validate/.
//
// Thread-safety: plain functions. Cost: walk_sensitive() visits every node
// and allocates per node only when the schema marks keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parse/parse.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon::validate_internal {

// Source names are "file:/etc/app/base.yaml", "env:APP_", "override": a
// file is shown by its path, as parse errors show it.
std::string display_source(const SourceList& names, std::uint32_t source);

// An issue located at `v`'s origin.
ValidationIssue issue_at(const std::string& kind, const Value& v, const SourceList& names,
                         std::string key, std::string message);

// A key path with array indices generalised: "servers[2].token" is
// "servers[].token" as a pattern.
inline std::string pattern_child(const std::string& parent, std::string_view name) {
  return join_path(parent, name);
}
inline std::string pattern_item(const std::string& parent) { return parent + "[]"; }

// One step of a key path: a member name, or an array index.
struct PathPart {
  std::string_view name;
  std::size_t index = 0;
  bool is_index = false;
};

// "a.b[2].c" (or, with `pattern`, "a.b[].c").
std::string path_of(const std::vector<PathPart>& parts, bool pattern = false);

// Walks `v` depth-first, calling fn(value, parts, sensitive) for every node.
// A reload walks every node, so nothing is allocated per node unless the
// schema marks keys (then each node's pattern is built to look it up).
template <class Fn>
void walk_sensitive(const SensitiveKeys& keys, bool patterns, const Value& v,
                    std::vector<PathPart>& parts, std::string_view name, bool inherited, Fn& fn) {
  const bool sensitive =
      inherited || (!name.empty() && (is_sensitive_name(name) ||
                                      (patterns && keys.is_sensitive(path_of(parts, true), name))));
  fn(v, parts, sensitive);
  if (v.type == Type::kObject) {
    for (const auto& [k, c] : v.fields) {
      parts.push_back({k, 0, false});
      walk_sensitive(keys, patterns, c, parts, k, sensitive, fn);
      parts.pop_back();
    }
  } else if (v.type == Type::kArray) {
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      parts.push_back({{}, i, true});
      walk_sensitive(keys, patterns, v.items[i], parts, name, sensitive, fn);
      parts.pop_back();
    }
  }
}

// Calls fn(value, parts) for every node, depth-first, without judging
// sensitivity (a check that needs only the values and their paths).
template <class Fn>
void walk_values(const Value& v, std::vector<PathPart>& parts, Fn& fn) {
  fn(v, parts);
  if (v.type == Type::kObject) {
    for (const auto& [k, c] : v.fields) {
      parts.push_back({k, 0, false});
      walk_values(c, parts, fn);
      parts.pop_back();
    }
  } else if (v.type == Type::kArray) {
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      parts.push_back({{}, i, true});
      walk_values(v.items[i], parts, fn);
      parts.pop_back();
    }
  }
}

template <class Fn>
void walk_sensitive(const SensitiveKeys& keys, const Value& root, Fn fn) {
  std::vector<PathPart> parts;
  walk_sensitive(keys, keys.uses_patterns(), root, parts, "", false, fn);
}

}  // namespace shmconf::daemon::validate_internal
