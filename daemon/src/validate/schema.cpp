// The JSON Schema part of validate/: loading a schema (valijson, draft 7),
// validating a tree against it on a thread with a large stack, the keys it
// marks sensitive, and its Markdown documentation (schema-doc).
#include "validate/validate.hpp"

// valijson reports a schema it cannot use by calling abort() unless
// exceptions are enabled; a broken schema file must be an error, not a
// crash. This is the only translation unit that includes valijson.
#define VALIJSON_USE_EXCEPTIONS 1
#include <pthread.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "parse/parse.hpp"
#include "validate/schema_compat.hpp"
#include "validate/validate_internal.hpp"
#include "validate/value_adapter.hpp"

namespace shmconf::daemon {

using namespace validate_internal;

namespace {

constexpr unsigned kMaxSchemaDepth = 64;
// The validator's thread stack, reserved, touched only as deep as it goes.
// std::regex needs about 300 bytes of stack per character it matches.
constexpr std::size_t kValidatorStack = 256u << 20;
constexpr std::size_t kMaxPatternSubject = 256u << 10;

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

// valijson follows a "$ref" whose target is again a "$ref" by recursion, with
// no check for a cycle (its schema_parser.hpp: "TODO: Need to detect
// degenerate circular references"): {"$ref": "#"} overflows the stack. So
// every "$ref" in the document is followed here first, the way valijson
// resolves it (a relative URI names this document), and a chain that comes
// back to a pointer it passed, or runs longer than kMaxRefChain, is refused.
// Returns the pointer of the first such chain, or nullopt.
constexpr std::size_t kMaxRefChain = 64;
std::optional<std::string> ref_cycle(const nlohmann::json& doc) {
  namespace vi = valijson::internal;
  const valijson::adapters::NlohmannJsonAdapter root(doc);
  std::vector<const nlohmann::json*> todo{&doc};
  while (!todo.empty()) {
    const nlohmann::json* node = todo.back();
    todo.pop_back();
    if (node->is_array()) {
      for (const auto& x : *node) todo.push_back(&x);
      continue;
    }
    if (!node->is_object()) continue;
    for (const auto& [k, x] : node->items()) todo.push_back(&x);
    auto ref = node->find("$ref");
    if (ref == node->end() || !ref->is_string()) continue;
    std::string r = ref->get<std::string>();
    std::vector<std::string> seen;
    try {
      for (;;) {
        const auto uri = vi::json_reference::getJsonReferenceUri(r);
        if (uri && (vi::uri::isUriAbsolute(*uri) || vi::uri::isUrn(*uri))) break;
        std::string ptr = vi::json_reference::getJsonReferencePointer(r).value_or("");
        ptr.erase(ptr.find_last_not_of('/') + 1);  // as valijson's sanitiseJsonPointer
        if (std::find(seen.begin(), seen.end(), ptr) != seen.end() || seen.size() >= kMaxRefChain) {
          return "#" + ptr;
        }
        seen.push_back(ptr);
        const auto target = vi::json_pointer::resolveJsonPointer(root, ptr);
        if (!target.isObject()) break;
        const auto obj = target.getObject();
        const auto next = obj.find("$ref");
        if (next == obj.end() || !next->second.getString(r)) break;
      }
    } catch (const std::exception&) {
      // An unresolvable reference: the schema parser reports it.
    }
  }
  return std::nullopt;
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

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// --- Schema ----------------------------------------------------------------------

struct Schema::Impl {
  nlohmann::json compat;  // the document valijson parsed (schema_compat.hpp)
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
  } catch (const nlohmann::json::out_of_range&) {
    // A number no double holds (1e999): nlohmann throws this, not parse_error.
    throw fail(0, 0, "not valid JSON: a number is out of range");
  }
  if (!s->doc_.is_object() && !s->doc_.is_boolean()) {
    throw fail(0, 0, "the schema must be a JSON object (or true or false)");
  }
  if (auto cycle = ref_cycle(s->doc_)) {
    throw fail(0, 0,
               "\"$ref\" chain loops or exceeds " + std::to_string(kMaxRefChain) +
                   " references at " + *cycle);
  }
  s->impl_ = std::make_unique<Impl>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    s->impl_->compat = s->doc_;
    adapt_schema_for_valijson(s->impl_->compat);
    valijson::adapters::NlohmannJsonAdapter adapter(s->impl_->compat);
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
    std::vector<PathPart> parts;
    auto too_long = [&](const Value& v, const std::vector<PathPart>& at) {
      if (v.type == Type::kString && v.s.size() > kMaxPatternSubject) {
        out.push_back(issue_at("schema", v, names, path_of(at),
                               "string of " + std::to_string(v.s.size()) +
                                   " bytes is longer than a schema with \"pattern\" can check (" +
                                   std::to_string(kMaxPatternSubject) + " bytes)"));
      }
    };
    walk_values(root, parts, too_long);
    if (!out.empty()) return out;
  }
  // In place: no canonical JSON text, no second tree (value_adapter.hpp).
  valijson::Validator validator;
  valijson::ValidationResults results;
  const schema_adapter::ValueAdapter target(root);
  bool valid = false;
  // valijson recurses with the tree and std::regex with each string it
  // matches: run it on a thread with a stack large enough for both.
  struct Job {
    valijson::Validator* validator;
    const valijson::Schema* schema;
    const schema_adapter::ValueAdapter* target;
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
  if (job.error) {
    // valijson throws where it cannot apply the schema to a value (e.g.
    // "format" on a number: "JSON value cannot be cast to a string"): the
    // configuration is rejected as a schema error naming the schema file.
    std::string what = "internal error";
    try {
      std::rethrow_exception(job.error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    out.push_back(ValidationIssue{"schema", path_, 0, 0, "",
                                  "schema: cannot be applied to this configuration: " + what});
    return out;
  }
  if (valid) return out;

  std::vector<valijson::ValidationResults::Error> errors(results.begin(), results.end());
  if (errors.empty()) {
    // Some of valijson's checks fail without a message ("propertyNames").
    out.push_back(issue_at("schema", root, names, "",
                           "does not match the schema (no detail from the validator)"));
    if (out.back().file.empty() && !names.empty()) out.back().file = display_source(names, 0);
    return out;
  }
  for (const auto& e : errors) {
    // valijson repeats a nested failure at every enclosing level ("Failed to
    // validate against schema associated with property name 'database'");
    // the innermost one says what is wrong and where.
    // So does a combinator ("allOf", if-then-else) at the same level.
    const auto is_summary = [](const auto& x) {
      return x.description.rfind("Failed to validate", 0) == 0;
    };
    const bool summary =
        is_summary(e) && std::any_of(errors.begin(), errors.end(), [&](const auto& other) {
          return extends(other.context, e.context) ||
                 (other.context == e.context && !is_summary(other));
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
