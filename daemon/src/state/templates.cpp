#include "state/templates.hpp"

#include <bit>
#include <cstring>
#include <set>
#include <stdexcept>

#include "parse/parse.hpp"
#include "publish/builder.hpp"

namespace shmconf::daemon {
namespace {

Value decode(const SegmentView& view, const format::Node& n, unsigned depth) {
  if (depth > format::kMaxDepth) throw std::runtime_error("segment nested too deeply to decode");
  const format::Origin& at = view.origin(n);
  const Origin o{at.source, at.line, at.column};
  switch (format::node_type(n)) {
    case format::Type::kNull:
      return Value::null(o);
    case format::Type::kBool:
      return Value::boolean(n.payload != 0, o);
    case format::Type::kInt:
      return Value::integer(static_cast<std::int64_t>(n.payload), o);
    case format::Type::kDouble:
      return Value::real(std::bit_cast<double>(n.payload), o);
    case format::Type::kString:
      return Value::string(std::string(view.string_value(n.payload)), o);
    case format::Type::kArray: {
      Value out = Value::array(o);
      for (const format::Node& c : view.children(n))
        out.items.push_back(decode(view, c, depth + 1));
      return out;
    }
    case format::Type::kObject: {
      Value out = Value::object(o);
      for (const format::Node& c : view.children(n)) {
        out.fields.emplace(std::string(view.name(c)), decode(view, c, depth + 1));
      }
      return out;
    }
  }
  throw std::runtime_error("segment holds a value of unknown type");
}

struct Resolver {
  const std::set<std::string, std::less<>>& paths;
  const SourceList& sources;
  const SubstitutionContext& ctx;
  std::size_t done = 0;

  void walk(Value& v, std::string& path) {
    switch (v.type) {
      case Type::kString:
        if (paths.contains(path)) {
          std::string file;
          if (v.origin.source < sources.size()) {
            file = sources[v.origin.source];
            if (file.starts_with("file:")) file.erase(0, 5);
          }
          v.s = expand(v.s, ctx, SubstitutionSite{file, v.origin.line, v.origin.column, path});
          ++done;
        }
        break;
      case Type::kObject:
        for (auto& [k, c] : v.fields) {
          const std::size_t len = path.size();
          path = join_path(path, k);
          walk(c, path);
          path.resize(len);
        }
        break;
      case Type::kArray:
        for (std::size_t i = 0; i < v.items.size(); ++i) {
          const std::size_t len = path.size();
          path = index_path(path, i);
          walk(v.items[i], path);
          path.resize(len);
        }
        break;
      default:
        break;
    }
  }
};

}  // namespace

Value value_from_segment(const SegmentView& view, SourceList* sources) {
  if (sources != nullptr) {
    sources->clear();
    for (const format::StrRef& s : view.sources()) sources->emplace_back(view.str(s.off, s.len));
  }
  return decode(view, view.root(), 0);
}

std::vector<std::byte> resolve_template_segment(std::string_view template_bytes,
                                                const std::vector<std::string>& paths,
                                                const SegmentView* previous,
                                                const SubstitutionContext& ctx) {
  // SegmentView reads the header in place: copy into storage aligned for it.
  std::vector<std::uint64_t> aligned((template_bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), template_bytes.data(), template_bytes.size());
  SegmentView view;
  SegmentError why;
  if (SegmentView::open(aligned.data(), template_bytes.size(), 0, &view, &why) != Errc::kOk) {
    throw std::runtime_error(std::string("template segment refused: ") + why.message);
  }
  SourceList sources;
  Value root = value_from_segment(view, &sources);
  const std::set<std::string, std::less<>> want(paths.begin(), paths.end());
  Resolver r{want, sources, ctx};
  std::string path;
  r.walk(root, path);
  if (r.done != want.size()) {
    throw std::runtime_error("template segment lacks " + std::to_string(want.size() - r.done) +
                             " of its substituted keys");
  }
  // Keep the redaction marks the version was published with.
  std::set<std::string> sensitive;
  for (std::uint32_t i = 1; i < view.node_count(); ++i) {
    const format::Node& n = view.node(i);
    if (format::node_sensitive(n)) sensitive.emplace(view.key(n));
  }
  BuildInput in;
  in.sensitive = &sensitive;
  in.root = &root;
  in.sources = &sources;
  in.version = view.version();
  in.publish_time_ns = view.header().publish_time_ns;
  in.content_hash = content_hash(root);
  in.trigger = std::string(view.trigger());
  in.previous = previous;
  return build_segment(in);
}

}  // namespace shmconf::daemon
