#include "validate/validate.hpp"

#include <algorithm>
#include <cctype>

#include "parse/parse.hpp"
#include "validate/validate_internal.hpp"

namespace shmconf::daemon {

namespace validate_internal {

std::string display_source(const SourceList& names, std::uint32_t source) {
  if (source >= names.size()) return "";
  const std::string& n = names[source];
  if (n.rfind("file:", 0) == 0) return n.substr(5);
  return n;
}

ValidationIssue issue_at(const std::string& kind, const Value& v, const SourceList& names,
                         std::string key, std::string message) {
  ValidationIssue i;
  i.kind = kind;
  i.file = display_source(names, v.origin.source);
  i.line = v.origin.line;
  i.column = v.origin.column;
  i.key = std::move(key);
  i.message = std::move(message);
  return i;
}

std::string path_of(const std::vector<PathPart>& parts, bool pattern) {
  std::string out;
  for (const PathPart& p : parts) {
    if (p.is_index) {
      out += pattern ? "[]" : "[" + std::to_string(p.index) + "]";
    } else {
      if (!out.empty()) out += '.';
      out += p.name;
    }
  }
  return out;
}

}  // namespace validate_internal

using namespace validate_internal;

namespace {

constexpr std::string_view kRedacted = "<redacted>";

bool wants_redaction(const SensitiveKeys& keys, const std::string& pattern, std::string_view name) {
  return !name.empty() && keys.is_sensitive(pattern, name);
}

void count_leaves_into(const Value& v, std::size_t* n) {
  if (v.type == Type::kObject) {
    if (v.fields.empty()) ++*n;
    for (const auto& [k, c] : v.fields) count_leaves_into(c, n);
  } else if (v.type == Type::kArray) {
    if (v.items.empty()) ++*n;
    for (const auto& c : v.items) count_leaves_into(c, n);
  } else {
    ++*n;
  }
}

nlohmann::json redact_into(const SensitiveKeys& keys, const Value& v, const std::string& pattern,
                           std::string_view name) {
  if (wants_redaction(keys, pattern, name)) return std::string(kRedacted);
  if (v.type == Type::kObject) {
    auto out = nlohmann::json::object();
    for (const auto& [k, c] : v.fields) out[k] = redact_into(keys, c, pattern_child(pattern, k), k);
    return out;
  }
  if (v.type == Type::kArray) {
    auto out = nlohmann::json::array();
    for (const auto& c : v.items) out.push_back(redact_into(keys, c, pattern_item(pattern), name));
    return out;
  }
  return nlohmann::json::parse(to_json(v));
}

}  // namespace

// --- Issues ------------------------------------------------------------------

std::string ValidationIssue::text() const {
  return ConfigError(file, line, column, key, message).what();
}

nlohmann::json ValidationIssue::to_json() const {
  return {{"file", file},       {"line", line}, {"column", column},  {"key", key},
          {"message", message}, {"kind", kind}, {"warning", warning}};
}

namespace {
std::string join_issues(const std::vector<ValidationIssue>& issues) {
  std::string out;
  for (const ValidationIssue& i : issues) {
    if (!out.empty()) out += '\n';
    out += i.text();
  }
  return out;
}
}  // namespace

ValidationFailure::ValidationFailure(std::string kind, std::vector<ValidationIssue> issues)
    : std::runtime_error(join_issues(issues)), kind_(std::move(kind)), issues_(std::move(issues)) {}

void throw_if_errors(const std::vector<ValidationIssue>& issues) {
  std::vector<ValidationIssue> errors;
  std::size_t total = 0;
  std::string kind;
  for (const ValidationIssue& i : issues) {
    if (i.warning) continue;
    if (kind.empty()) kind = i.kind;
    ++total;
    if (errors.size() < kMaxReportedIssues) errors.push_back(i);
  }
  if (errors.empty()) return;
  if (total > errors.size()) {
    ValidationIssue more;
    more.kind = kind;
    more.message = "and " + std::to_string(total - errors.size()) + " more error(s)";
    errors.push_back(std::move(more));
  }
  throw ValidationFailure(kind, std::move(errors));
}

// --- Sensitive keys ------------------------------------------------------------

bool is_sensitive_name(std::string_view name) {
  static constexpr std::string_view kPatterns[] = {"password",   "passwd",     "secret",
                                                   "secretkey",  "token",      "apikey",
                                                   "privatekey", "credential", "credentials"};
  // Every pattern ends in one of these letters: most names are settled by
  // their last one (this runs for every key of every reload).
  auto last = name.rbegin();
  while (last != name.rend() && (*last == '_' || *last == '-')) ++last;
  if (last == name.rend()) return false;
  switch (*last | 0x20) {  // ASCII lowering; other bytes never match below
    case 'd':
    case 't':
    case 'n':
    case 'y':
    case 'l':
    case 's':
      break;
    default:
      return false;
  }
  // The last 16 letters of the name, lowered, '_' and '-' dropped: enough
  // for the longest pattern, and no allocation.
  char buf[16];
  std::size_t n = 0;
  for (auto it = name.rbegin(); it != name.rend() && n < sizeof buf; ++it) {
    if (*it == '_' || *it == '-') continue;
    const char c = *it;  // ASCII lowering: no locale call per letter
    buf[sizeof buf - 1 - n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view tail(buf + sizeof buf - n, n);
  for (std::string_view p : kPatterns) {
    if (tail.size() >= p.size() && tail.substr(tail.size() - p.size()) == p) return true;
  }
  return false;
}

bool SensitiveKeys::is_sensitive(const std::string& pattern, std::string_view name) const {
  if (is_sensitive_name(name)) return true;
  return schema_ != nullptr && schema_->marks_sensitive(pattern);
}

bool SensitiveKeys::uses_patterns() const {
  return schema_ != nullptr && schema_->marks_any_sensitive();
}

std::set<std::string> SensitiveKeys::collect(const Value& root) const {
  std::set<std::string> out;
  walk_sensitive(*this, root,
                 [&](const Value&, const std::vector<PathPart>& parts, bool sensitive) {
                   if (sensitive && !parts.empty()) out.insert(path_of(parts));
                 });
  return out;
}

nlohmann::json SensitiveKeys::redact(const Value& v) const { return redact_into(*this, v, "", ""); }

namespace {

// The plaintext-secret rule for one sensitive value at `key`; false when it
// passes.
bool plaintext_secret(const Value& v, const SourceList& names) {
  if (v.type != Type::kString || v.s.find("${") != std::string::npos) return false;
  // A value from an environment variable already lives outside the files.
  return !(v.origin.source < names.size() && names[v.origin.source].rfind("env:", 0) == 0);
}

ValidationIssue plaintext_issue(const Value& v, const SourceList& names, std::string key,
                                SecretPolicy policy) {
  ValidationIssue i = issue_at("secret", v, names, std::move(key),
                               "sensitive key holds a plaintext secret; use a ${...} reference "
                               "(environment variable, file or credential)");
  i.warning = policy == SecretPolicy::kWarn;
  return i;
}

}  // namespace

std::vector<ValidationIssue> check_plaintext_secrets(const Value& layer, const SourceList& names,
                                                     const SensitiveKeys& keys,
                                                     SecretPolicy policy) {
  std::vector<ValidationIssue> out;
  if (policy == SecretPolicy::kAllow) return out;
  walk_sensitive(keys, layer,
                 [&](const Value& v, const std::vector<PathPart>& parts, bool sensitive) {
                   if (sensitive && plaintext_secret(v, names)) {
                     out.push_back(plaintext_issue(v, names, path_of(parts), policy));
                   }
                 });
  return out;
}

std::vector<ValidationIssue> check_plaintext_secrets(const std::vector<SensitiveString>& strings,
                                                     const SourceList& names, SecretPolicy policy) {
  std::vector<ValidationIssue> out;
  if (policy == SecretPolicy::kAllow) return out;
  for (const SensitiveString& s : strings) {
    if (plaintext_secret(*s.value, names))
      out.push_back(plaintext_issue(*s.value, names, s.key, policy));
  }
  return out;
}

// --- Guards --------------------------------------------------------------------

std::size_t count_leaves(const Value& root) {
  std::size_t n = 0;
  if (root.type == Type::kObject) {
    for (const auto& [k, c] : root.fields) count_leaves_into(c, &n);
  } else if (root.type == Type::kArray) {
    for (const auto& c : root.items) count_leaves_into(c, &n);
  }
  return n;
}

std::size_t count_leaves(const SegmentView& view) {
  std::size_t n = 0;
  for (std::uint32_t i = 1; i < view.node_count(); ++i) {
    if (is_leaf(view.node(i))) ++n;
  }
  return n;
}

std::vector<ValidationIssue> check_size_guards(const Value& root, const Guards& guards) {
  std::vector<ValidationIssue> out;
  const bool empty = root.type == Type::kObject && root.fields.empty();
  if (empty && !guards.allow_empty) {
    out.push_back({"guard", "", 0, 0, "",
                   "the configuration is empty (no keys); allow_empty is off, so an empty root "
                   "is refused",
                   false});
    return out;
  }
  if (guards.min_keys != 0) {
    const std::size_t n = count_leaves(root);
    if (n < guards.min_keys) {
      out.push_back({"guard", "", 0, 0, "",
                     "has " + std::to_string(n) + " leaf keys; min_keys is " +
                         std::to_string(guards.min_keys),
                     false});
    }
  }
  return out;
}

std::vector<ValidationIssue> check_change_guard(std::size_t changed, std::size_t removed,
                                                std::size_t live_leaves, const Guards& guards) {
  std::vector<ValidationIssue> out;
  if (live_leaves == 0) return out;
  // A half-written or truncated file looks like most keys deleted: the check with the
  // clearest message for that comes first.
  const double deleted = 100.0 * static_cast<double>(removed) / static_cast<double>(live_leaves);
  if (deleted > guards.max_deleted_percent) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "would delete %zu of the live version's %zu keys (%.3g%%); "
                  "max_deleted_percent is %g",
                  removed, live_leaves, deleted, guards.max_deleted_percent);
    out.push_back({"guard", "", 0, 0, "", buf, false});
  }
  if (!guards.max_changed_percent) return out;
  const double pct = 100.0 * static_cast<double>(changed) / static_cast<double>(live_leaves);
  if (pct > *guards.max_changed_percent) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "would change %.0f%% of %zu keys (%zu added, removed or changed); "
                  "max_changed_percent is %g",
                  pct, live_leaves, changed, *guards.max_changed_percent);
    out.push_back({"guard", "", 0, 0, "", buf, false});
  }
  return out;
}

// --- Reports ---------------------------------------------------------------------

nlohmann::json ValidationReport::to_json() const {
  auto e = nlohmann::json::array();
  for (const auto& i : errors) e.push_back(i.to_json());
  auto w = nlohmann::json::array();
  for (const auto& i : warnings) w.push_back(i.to_json());
  return {{"valid", valid}, {"errors", e}, {"warnings", w}};
}

}  // namespace shmconf::daemon
