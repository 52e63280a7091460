#include "validate/validate.hpp"

// valijson reports a schema it cannot use by calling abort() unless
// exceptions are enabled; a broken schema file must be an error, not a
// crash. This is the only translation unit that includes valijson.
#define VALIJSON_USE_EXCEPTIONS 1
#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <regex>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "parse/parse.hpp"

namespace shmconf::daemon {
namespace {

constexpr std::string_view kRedacted = "<redacted>";
constexpr unsigned kMaxSchemaDepth = 64;
// The validator's thread stack, reserved, touched only as deep as it goes.
// std::regex needs about 300 bytes of stack per character it matches.
constexpr std::size_t kValidatorStack = 256u << 20;
constexpr std::size_t kMaxPatternSubject = 256u << 10;

// Source names are "file:/etc/app/base.yaml", "env:APP_", "override": a
// file is shown by its path, as parse errors show it.
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

// A key path with array indices generalised: "servers[2].token" is
// "servers[].token" as a pattern.
std::string pattern_child(const std::string& parent, std::string_view name) {
  return join_path(parent, name);
}
std::string pattern_item(const std::string& parent) { return parent + "[]"; }

bool wants_redaction(const SensitiveKeys& keys, const std::string& pattern, std::string_view name) {
  return !name.empty() && keys.is_sensitive(pattern, name);
}

// Bounds a walk of a schema: a recursive "$ref" (a tree type referring to
// itself) is followed once per path, and a schema of many branching refs
// stops after kMaxSchemaNodes visits instead of taking exponential time.
constexpr std::size_t kMaxSchemaNodes = 100000;
struct SchemaWalk {
  std::vector<std::string> refs;  // "$ref"s on the current path
  std::size_t visits = 0;
};

// Walks a schema document, calling `fn(pattern, schema_node, name)` for the
// root and every property and item schema reachable from it. Local "$ref"s
// ("#/definitions/x") are followed, bounded by depth.
template <class Fn>
void walk_schema(const nlohmann::json& root, const nlohmann::json& node, const std::string& pattern,
                 std::string_view name, unsigned depth, SchemaWalk& w, Fn& fn) {
  if (!node.is_object() || depth > kMaxSchemaDepth || ++w.visits > kMaxSchemaNodes) return;
  fn(pattern, node, name);
  if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    const std::string r = ref->get<std::string>();
    if (r.rfind("#", 0) == 0 && std::find(w.refs.begin(), w.refs.end(), r) == w.refs.end()) {
      try {
        const auto& target = root.at(nlohmann::json::json_pointer(r.substr(1)));
        w.refs.push_back(r);
        walk_schema(root, target, pattern, name, depth + 1, w, fn);
        w.refs.pop_back();
      } catch (const nlohmann::json::exception&) {
        // An unresolvable ref is reported by the schema parser.
      }
    }
  }
  if (auto props = node.find("properties"); props != node.end() && props->is_object()) {
    for (const auto& [k, sub] : props->items()) {
      walk_schema(root, sub, pattern_child(pattern, k), k, depth + 1, w, fn);
    }
  }
  if (auto items = node.find("items"); items != node.end()) {
    if (items->is_object()) {
      walk_schema(root, *items, pattern_item(pattern), name, depth + 1, w, fn);
    } else if (items->is_array()) {
      for (const auto& sub : *items)
        walk_schema(root, sub, pattern_item(pattern), name, depth + 1, w, fn);
    }
  }
  for (const char* group : {"allOf", "anyOf", "oneOf"}) {
    if (auto g = node.find(group); g != node.end() && g->is_array()) {
      for (const auto& sub : *g) walk_schema(root, sub, pattern, name, depth + 1, w, fn);
    }
  }
}

template <class Fn>
void walk_schema(const nlohmann::json& doc, Fn& fn) {
  SchemaWalk w;
  walk_schema(doc, doc, "", "", 0, w, fn);
}

// Display path of a valijson context (["<root>", "[database]", "[port]"])
// resolved against the tree: the deepest value that exists, and its path.
const Value* resolve_context(const Value& root, const std::vector<std::string>& context,
                             std::string* path) {
  const Value* cur = &root;
  path->clear();
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      part = part.substr(1, part.size() - 2);
    }
    if (cur->type == Type::kObject) {
      auto it = cur->fields.find(part);
      if (it == cur->fields.end()) break;
      *path = join_path(*path, part);
      cur = &it->second;
    } else if (cur->type == Type::kArray) {
      char* end = nullptr;
      const unsigned long long idx = std::strtoull(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || idx >= cur->items.size()) break;
      *path = index_path(*path, static_cast<std::size_t>(idx));
      cur = &cur->items[static_cast<std::size_t>(idx)];
    } else {
      break;
    }
  }
  return cur;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kInt:
      return "integer";
    case Type::kDouble:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "?";
}

// valijson prints bounds with "%f" ("65535.000000"); operators wrote 65535.
// A type error says what it found, never the value (it may be a secret).
std::string tidy_message(const std::string& description, const Value& at) {
  static const std::regex kTrailingZeros(R"((\d)\.0+\b)");
  std::string m = std::regex_replace(description, kTrailingZeros, "$1");
  if (m.rfind("Value type not permitted", 0) == 0) {
    if (!m.empty() && m.back() == '.') m.pop_back();
    m += std::string(" (got ") + type_name(at.type) + ")";
  }
  return m;
}

bool extends(const std::vector<std::string>& longer, const std::vector<std::string>& prefix) {
  return longer.size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), longer.begin());
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

// One step of a key path: a member name, or an array index.
struct PathPart {
  std::string_view name;
  std::size_t index = 0;
  bool is_index = false;
};

// "a.b[2].c" (or, with `pattern`, "a.b[].c").
std::string path_of(const std::vector<PathPart>& parts, bool pattern = false) {
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

template <class Fn>
void walk_sensitive(const SensitiveKeys& keys, const Value& root, Fn fn) {
  std::vector<PathPart> parts;
  walk_sensitive(keys, keys.uses_patterns(), root, parts, "", false, fn);
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

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
  // The last 16 letters of the name, lowered, '_' and '-' dropped: enough
  // for the longest pattern, and no allocation (this runs for every key).
  char buf[16];
  std::size_t n = 0;
  for (auto it = name.rbegin(); it != name.rend() && n < sizeof buf; ++it) {
    if (*it == '_' || *it == '-') continue;
    buf[sizeof buf - 1 - n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(*it)));
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

std::vector<ValidationIssue> check_plaintext_secrets(const Value& layer, const SourceList& names,
                                                     const SensitiveKeys& keys,
                                                     SecretPolicy policy) {
  std::vector<ValidationIssue> out;
  if (policy == SecretPolicy::kAllow) return out;
  walk_sensitive(
      keys, layer, [&](const Value& v, const std::vector<PathPart>& parts, bool sensitive) {
        if (!sensitive || v.type != Type::kString || v.s.find("${") != std::string::npos) return;
        // A value from an environment variable already lives outside the files.
        if (v.origin.source < names.size() && names[v.origin.source].rfind("env:", 0) == 0) return;
        ValidationIssue i =
            issue_at("secret", v, names, path_of(parts),
                     "sensitive key holds a plaintext secret; use a ${...} reference "
                     "(environment variable, file or credential)");
        i.warning = policy == SecretPolicy::kWarn;
        out.push_back(std::move(i));
      });
  return out;
}

// --- Schema ----------------------------------------------------------------------

struct Schema::Impl {
  valijson::Schema schema;
};

Schema::~Schema() = default;

std::shared_ptr<const Schema> Schema::load(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) {
    throw ValidationFailure("schema",
                            {ValidationIssue{"schema", path, 0, 0, "", "cannot read schema file"}});
  }
  return parse(read_file_text(path), path);
}

std::shared_ptr<const Schema> Schema::parse(const std::string& text,
                                            const std::string& display_name) {
  auto fail = [&](std::uint32_t line, std::uint32_t column, const std::string& msg) {
    return ValidationFailure(
        "schema", {ValidationIssue{"schema", display_name, line, column, "", "schema: " + msg}});
  };
  std::shared_ptr<Schema> s(new Schema());
  s->path_ = display_name;
  try {
    s->doc_ = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Byte offset to line and column, for an editor.
    std::uint32_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw fail(line, col, "not valid JSON");
  }
  if (!s->doc_.is_object()) throw fail(0, 0, "the schema must be a JSON object");
  s->impl_ = std::make_unique<Impl>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(s->doc_);
    parser.populateSchema(adapter, s->impl_->schema);
  } catch (const std::exception& e) {
    throw fail(0, 0, e.what());
  }
  auto mark = [&](const std::string& pattern, const nlohmann::json& node, std::string_view) {
    if (auto x = node.find("x-sensitive"); x != node.end() && x->is_boolean() && x->get<bool>()) {
      s->sensitive_.insert(pattern);
    }
  };
  walk_schema(s->doc_, mark);
  s->uses_pattern_ = text.find("\"pattern") != std::string::npos;  // also patternProperties
  return s;
}

bool Schema::marks_sensitive(const std::string& pattern) const {
  return sensitive_.count(pattern) != 0;
}

std::vector<ValidationIssue> Schema::validate(const Value& root, const SourceList& names) const {
  std::vector<ValidationIssue> out;
  if (uses_pattern_) {
    // std::regex recurses once per character: refuse what a big stack
    // cannot match, rather than crash the daemon on it.
    walk_sensitive(
        SensitiveKeys(), root, [&](const Value& v, const std::vector<PathPart>& parts, bool) {
          if (v.type == Type::kString && v.s.size() > kMaxPatternSubject) {
            out.push_back(
                issue_at("schema", v, names, path_of(parts),
                         "string of " + std::to_string(v.s.size()) +
                             " bytes is longer than a schema with \"pattern\" can check (" +
                             std::to_string(kMaxPatternSubject) + " bytes)"));
          }
        });
    if (!out.empty()) return out;
  }
  const nlohmann::json doc = nlohmann::json::parse(to_json(root));
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  bool valid = false;
  // valijson recurses with the tree and std::regex with each string it
  // matches: run it on a thread with a stack large enough for both.
  struct Job {
    valijson::Validator* validator;
    const valijson::Schema* schema;
    const valijson::adapters::NlohmannJsonAdapter* target;
    valijson::ValidationResults* results;
    bool* valid;
    std::exception_ptr error;
  } job{&validator, &impl_->schema, &target, &results, &valid, nullptr};
  auto run = [](void* arg) -> void* {
    auto* j = static_cast<Job*>(arg);
    try {
      *j->valid = j->validator->validate(*j->schema, *j->target, j->results);
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kValidatorStack);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, run, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    run(&job);  // no thread: validate here, with this thread's stack
  } else {
    pthread_join(thread, nullptr);
  }
  if (job.error) std::rethrow_exception(job.error);
  if (valid) return out;

  std::vector<valijson::ValidationResults::Error> errors(results.begin(), results.end());
  for (const auto& e : errors) {
    // valijson repeats a nested failure at every enclosing level ("Failed to
    // validate against schema associated with property name 'database'");
    // the innermost one says what is wrong and where.
    const bool summary = e.description.rfind("Failed to validate", 0) == 0 &&
                         std::any_of(errors.begin(), errors.end(), [&](const auto& other) {
                           return extends(other.context, e.context);
                         });
    if (summary) continue;
    std::string path;
    const Value* at = resolve_context(root, e.context, &path);
    out.push_back(issue_at("schema", *at, names, path, tidy_message(e.description, *at)));
    if (out.back().file.empty() && !names.empty() && at == &root) {
      out.back().file = display_source(names, 0);
    }
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

// --- Schema documentation ------------------------------------------------------

namespace {

std::string md_cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string schema_type(const nlohmann::json& node) {
  if (auto t = node.find("type"); t != node.end()) {
    if (t->is_string()) return t->get<std::string>();
    if (t->is_array()) {
      std::string out;
      for (const auto& x : *t) {
        if (!out.empty()) out += " \\| ";
        out += x.is_string() ? x.get<std::string>() : x.dump();
      }
      return out;
    }
  }
  if (node.contains("enum")) return "enum";
  if (node.contains("const")) return "const";
  if (node.contains("properties")) return "object";
  if (node.contains("items")) return "array";
  if (node.contains("$ref")) return node["$ref"].is_string() ? node["$ref"].get<std::string>() : "";
  return "any";
}

}  // namespace

std::string schema_markdown(const Schema& schema) {
  const nlohmann::json& doc = schema.document();
  std::string out;
  if (auto t = doc.find("title"); t != doc.end() && t->is_string()) {
    out += "# " + t->get<std::string>() + "\n\n";
  }
  if (auto d = doc.find("description"); d != doc.end() && d->is_string()) {
    out += d->get<std::string>() + "\n\n";
  }
  out += "| key | type | default | required | sensitive | description |\n";
  out += "| --- | --- | --- | --- | --- | --- |\n";
  SensitiveKeys keys(std::shared_ptr<const Schema>(&schema, [](const Schema*) {}));
  // Required names by the pattern of their parent.
  std::set<std::string> required;
  auto req = [&](const std::string& pattern, const nlohmann::json& node, std::string_view) {
    if (auto r = node.find("required"); r != node.end() && r->is_array()) {
      for (const auto& name : *r) {
        if (name.is_string()) required.insert(pattern_child(pattern, name.get<std::string>()));
      }
    }
  };
  walk_schema(doc, req);
  std::set<std::string> seen;
  auto row = [&](const std::string& pattern, const nlohmann::json& node, std::string_view name) {
    if (pattern.empty() || !seen.insert(pattern).second) return;
    const std::string def = node.contains("default") ? "`" + node["default"].dump() + "`" : "";
    std::string desc;
    if (auto d = node.find("description"); d != node.end() && d->is_string()) desc = *d;
    // The last name of "servers[]" is "servers": items inherit their array's.
    const bool sensitive = keys.is_sensitive(pattern, name);
    out += "| `" + md_cell(pattern) + "` | " + md_cell(schema_type(node)) + " | " + md_cell(def) +
           " | " + (required.count(pattern) ? "yes" : "no") + " | " + (sensitive ? "yes" : "no") +
           " | " + md_cell(desc) + " |\n";
  };
  walk_schema(doc, row);
  return out;
}

}  // namespace shmconf::daemon
