#include "core/overrides.hpp"

#include <vector>

namespace shmconf::daemon {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace

void set_path(Value& root, const std::string& path, Value v) {
  Value* cur = &root;
  const auto parts = split_path(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].find_first_of("[]") != std::string::npos) {
      throw ConfigError("", 0, 0, path, "override keys are dotted object paths");
    }
    if (cur->type != Type::kObject) *cur = Value::object();
    if (i + 1 == parts.size()) {
      cur->fields[parts[i]] = std::move(v);
      return;
    }
    cur = &cur->fields[parts[i]];
  }
}

bool erase_path(Value& root, const std::string& path) {
  Value* cur = &root;
  const auto parts = split_path(path);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = cur->fields.find(parts[i]);
    if (it == cur->fields.end() || it->second.type != Type::kObject) return false;
    cur = &it->second;
  }
  return cur->fields.erase(parts.back()) > 0;
}

Value override_layer(const Value& overrides, std::uint32_t source) {
  Value layer = overrides;
  std::vector<Value*> stack{&layer};
  while (!stack.empty()) {
    Value* v = stack.back();
    stack.pop_back();
    v->origin = Origin{source, 0, 0};
    for (auto& [k, c] : v->fields) stack.push_back(&c);
    for (auto& c : v->items) stack.push_back(&c);
  }
  return layer;
}

}  // namespace shmconf::daemon
