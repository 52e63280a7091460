#include "publish/render.hpp"

#include <bit>
#include <cstdio>
#include <stdexcept>

namespace shmconf::daemon {

nlohmann::ordered_json node_to_json(const SegmentView& view, const format::Node& n,
                                    RenderOptions opts, unsigned depth) {
  if (depth > format::kMaxDepth) throw std::runtime_error("segment nested too deeply to render");
  if (!opts.show_secrets && format::node_sensitive(n)) return kRedactedValue;
  switch (format::node_type(n)) {
    case format::Type::kNull:
      return nullptr;
    case format::Type::kBool:
      return n.payload != 0;
    case format::Type::kInt:
      return static_cast<std::int64_t>(n.payload);
    case format::Type::kDouble:
      return std::bit_cast<double>(n.payload);
    case format::Type::kString:
      return std::string(view.string_value(n.payload));
    case format::Type::kArray: {
      auto out = nlohmann::ordered_json::array();
      for (const format::Node& c : view.children(n))
        out.push_back(node_to_json(view, c, opts, depth + 1));
      return out;
    }
    case format::Type::kObject: {
      auto out = nlohmann::ordered_json::object();
      for (const format::Node& c : view.children(n)) {
        out[std::string(view.name(c))] = node_to_json(view, c, opts, depth + 1);
      }
      return out;
    }
  }
  return nullptr;
}

nlohmann::ordered_json node_origin(const SegmentView& view, const format::Node& n) {
  const format::Origin& at = view.origin(n);
  if (at.source == format::kNoSource && at.line == 0) return nullptr;
  nlohmann::ordered_json o;
  o["source"] = std::string(view.source_name(at.source));
  o["line"] = at.line;
  o["column"] = at.column;
  return o;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

const char* change_name(format::Change c) {
  switch (c) {
    case format::Change::kAdded:
      return "added";
    case format::Change::kRemoved:
      return "removed";
    case format::Change::kChanged:
      return "changed";
  }
  return "?";
}

}  // namespace shmconf::daemon
