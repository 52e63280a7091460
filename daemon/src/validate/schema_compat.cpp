// daemon/src/validate/schema_compat.cpp — see schema_compat.hpp.
#include "validate/schema_compat.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace shmconf::daemon {
namespace {

// Deeper than any schema the loader accepts (validate/schema.cpp walks at
// most kMaxSchemaDepth levels); a guard, not a limit users meet.
constexpr unsigned kMaxDepth = 256;

void adapt(nlohmann::json& node, unsigned depth);

void adapt_each_value(nlohmann::json& map, unsigned depth) {
  if (!map.is_object()) return;
  for (auto& [name, sub] : map.items()) adapt(sub, depth + 1);
}

void adapt_each_item(nlohmann::json& list, unsigned depth) {
  if (!list.is_array()) return;
  for (auto& sub : list) adapt(sub, depth + 1);
}

void integral_counts(nlohmann::json& node) {
  for (const char* key :
       {"maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"}) {
    auto it = node.find(key);
    if (it == node.end() || !it->is_number_float()) continue;
    const double d = it->get<double>();
    if (d >= 0 && d <= 9007199254740992.0 && std::floor(d) == d) {
      *it = static_cast<std::uint64_t>(d);
    }
  }
}

void format_only_on_strings(nlohmann::json& node) {
  auto it = node.find("format");
  if (it == node.end()) return;
  nlohmann::json conditional = {{"if", {{"type", "string"}}}, {"then", {{"format", *it}}}};
  node.erase(it);
  auto all = node.find("allOf");
  if (all != node.end() && all->is_array()) {
    all->push_back(std::move(conditional));
  } else if (all == node.end()) {
    node["allOf"] = nlohmann::json::array({std::move(conditional)});
  }
}

void adapt(nlohmann::json& node, unsigned depth) {
  if (!node.is_object() || depth > kMaxDepth) return;
  integral_counts(node);
  // Subschemas first: the conditional added below holds no more to adapt.
  for (const char* key : {"properties", "patternProperties", "definitions"}) {
    if (auto it = node.find(key); it != node.end()) adapt_each_value(*it, depth);
  }
  if (auto it = node.find("dependencies"); it != node.end()) adapt_each_value(*it, depth);
  for (const char* key : {"allOf", "anyOf", "oneOf"}) {
    if (auto it = node.find(key); it != node.end()) adapt_each_item(*it, depth);
  }
  if (auto it = node.find("items"); it != node.end()) {
    if (it->is_array()) {
      adapt_each_item(*it, depth);
    } else {
      adapt(*it, depth + 1);
    }
  }
  for (const char* key : {"additionalItems", "additionalProperties", "contains", "propertyNames",
                          "if", "then", "else", "not"}) {
    if (auto it = node.find(key); it != node.end()) adapt(*it, depth + 1);
  }
  format_only_on_strings(node);
}

}  // namespace

void adapt_schema_for_valijson(nlohmann::json& schema) { adapt(schema, 0); }

}  // namespace shmconf::daemon
