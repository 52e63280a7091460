// daemon/src/validate/validate.hpp — what a configuration must satisfy before
// it is published: a JSON Schema (draft 7), the plaintext-secret policy,
// the shape of feature flags and the data-safety guards (options.hpp). Also which keys are
// sensitive, so every output can redact them.
//
// Every check reports positions as "file:line:col: key.path: message", taken
// from the Origin of the value at fault in the merged tree, so an error
// points into the source that set the offending value.
//
// Thread-safety: a loaded Schema is immutable and may be shared. Cost: a
// schema check converts the tree to JSON once and walks it once; the other
// checks are one walk of the tree.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "shmconf/segment.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

// At most this many problems are reported per rejection; the count of the
// rest is appended.
inline constexpr std::size_t kMaxReportedIssues = 20;

// One problem found in a configuration.
struct ValidationIssue {
  std::string kind;  // "schema", "secret", "guard" (or a load error's kind)
  std::string file;  // the source as operators know it ("" when unknown)
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string key;  // full key path ("" for the root)
  std::string message;
  bool warning = false;  // reported but does not reject (SecretPolicy::kWarn)

  // "file:line:col: key.path: message" (unknown parts omitted).
  std::string text() const;
  nlohmann::json to_json() const;
};

// A rejected configuration: every error of one kind (the first kind found),
// bounded by kMaxReportedIssues. what() is the issues' text, one per line.
class ValidationFailure : public std::runtime_error {
 public:
  ValidationFailure(std::string kind, std::vector<ValidationIssue> issues);
  const std::string& kind() const { return kind_; }
  const std::vector<ValidationIssue>& issues() const { return issues_; }

 private:
  std::string kind_;
  std::vector<ValidationIssue> issues_;
};

// True when a key's last name looks like it holds a secret: after lowering
// case and dropping '_' and '-', it is or ends with password, passwd,
// secret, secretkey, token, apikey, privatekey, credential or credentials.
bool is_sensitive_name(std::string_view name);

// A JSON Schema file, parsed once per reload.
class Schema {
 public:
  // Throws ValidationFailure (kind "schema") when the file is unreadable,
  // not JSON, or not a schema valijson accepts.
  static std::shared_ptr<const Schema> load(const std::string& path);
  // Same, from text; `display_name` names it in errors.
  static std::shared_ptr<const Schema> parse(const std::string& text,
                                             const std::string& display_name);
  ~Schema();

  // Every violation in `root`, positioned on the value at fault (on the
  // parent mapping for a missing required key). Unbounded; callers trim.
  std::vector<ValidationIssue> validate(const Value& root, const SourceList& names) const;
  // True when the schema marks `pattern` (a key path with array indices
  // written as "[]": "servers[].token") "x-sensitive": true.
  bool marks_sensitive(const std::string& pattern) const;
  bool marks_any_sensitive() const { return !sensitive_.empty(); }
  const nlohmann::json& document() const { return doc_; }
  const std::string& path() const { return path_; }

 private:
  Schema() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  nlohmann::json doc_;
  std::string path_;
  std::set<std::string> sensitive_;  // patterns
  bool uses_pattern_ = false;        // "pattern" or "patternProperties" somewhere
};

// Which keys of a tree are sensitive: the schema's "x-sensitive" keys and
// the built-in name patterns. A sensitive container makes its whole subtree
// sensitive.
class SensitiveKeys {
 public:
  explicit SensitiveKeys(std::shared_ptr<const Schema> schema = nullptr)
      : schema_(std::move(schema)) {}
  // `pattern` as in Schema::marks_sensitive, `name` its last component.
  bool is_sensitive(const std::string& pattern, std::string_view name) const;
  // The schema marks some key "x-sensitive": patterns must be tracked.
  bool uses_patterns() const;
  // Full key paths ("a.b", "servers[2].token") of every sensitive value in
  // `root`, descendants of sensitive containers included.
  std::set<std::string> collect(const Value& root) const;
  // `v` (a tree rooted like the configuration) as JSON with each sensitive
  // value replaced by "<redacted>".
  nlohmann::json redact(const Value& v) const;

 private:
  std::shared_ptr<const Schema> schema_;
};

// Sensitive keys of one source layer, as parsed and before any ${...}
// substitution, that hold a literal string: errors under kError, warnings
// under kWarn, nothing under kAllow. A string containing "${" is a reference.
std::vector<ValidationIssue> check_plaintext_secrets(const Value& layer, const SourceList& names,
                                                     const SensitiveKeys& keys,
                                                     SecretPolicy policy);

// A sensitive string value of a tree and its full key path.
struct SensitiveString {
  const Value* value;
  std::string key;
};

// The same rule over the sensitive strings a build walk already found
// (BuildInput::sensitive_strings), for a tree that had nothing substituted:
// no second walk of the tree.
std::vector<ValidationIssue> check_plaintext_secrets(const std::vector<SensitiveString>& strings,
                                                     const SourceList& names, SecretPolicy policy);

// The declared shape of feature flags under the top-level key `flags`
// (docs/FLAGS.md, validate/flags.cpp): every flags.NAME is
// {enabled: bool, percent: 0..100, allow: [string], deny: [string]},
// enabled required, nothing else. Issues of kind "flags".
std::vector<ValidationIssue> check_flags(const Value& root, const SourceList& names);

// Leaf keys of a tree: scalars and empty containers, the root excluded.
std::size_t count_leaves(const Value& root);
std::size_t count_leaves(const SegmentView& view);

// allow_empty and min_keys against the candidate tree.
std::vector<ValidationIssue> check_size_guards(const Value& root, const Guards& guards);
// max_deleted_percent and max_changed_percent: `changed` leaf keys added,
// removed or changed, `removed` of them removed, against a live version of
// `live_leaves` leaf keys. No live version (or an empty one): no check.
std::vector<ValidationIssue> check_change_guard(std::size_t changed, std::size_t removed,
                                                std::size_t live_leaves, const Guards& guards);

// Throws ValidationFailure for the errors in `issues` (warnings are not
// errors), all of the first error's kind, at most kMaxReportedIssues.
void throw_if_errors(const std::vector<ValidationIssue>& issues);

// The result of validating a namespace's sources offline.
struct ValidationReport {
  bool valid = true;
  std::vector<ValidationIssue> errors;
  std::vector<ValidationIssue> warnings;
  nlohmann::json to_json() const;
};

// validate_offline() (core/offline.hpp) fills one without a daemon.

// Markdown reference of a schema: one table row per key path (type,
// default, required, sensitive, description), nested objects and arrays
// ("servers[]", "servers[].host") included. Throws ValidationFailure on a
// broken schema.
std::string schema_markdown(const Schema& schema);

}  // namespace shmconf::daemon
