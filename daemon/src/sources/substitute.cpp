#include "sources/substitute.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "parse/parse.hpp"
#include "parse/parse_internal.hpp"

namespace shmconf::daemon {
namespace {

[[noreturn]] void fail(const SubstitutionSite& site, const std::string& message) {
  throw ConfigError(site.file, site.line, site.column, site.key_path, message);
}

bool valid_var_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Reads a regular file of at most `limit` bytes; on failure returns nullopt
// and sets `why`. O_NONBLOCK so a FIFO cannot hang the reload.
std::optional<std::string> read_small_file(const std::string& path, std::size_t limit,
                                           std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    *why = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "not a regular file";
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      *why = "larger than the limit of " + std::to_string(limit) + " bytes";
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return out;
}

std::string strip_one_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

// ${sealed:ID:BASE64}: `rest` is what follows "sealed:".
std::string open_sealed(std::string_view rest, const SubstitutionContext& ctx,
                        const SubstitutionSite& site) {
  const std::size_t colon = rest.find(':');
  const std::string_view id = rest.substr(0, colon);
  const std::string_view b64 = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
  // The ciphertext is safe to show but long: errors quote its start.
  const std::string ref = "${sealed:" + std::string(id) + ":" + std::string(b64.substr(0, 12)) +
                          (b64.size() > 12 ? "...}" : "}");
  if (colon == std::string_view::npos || !valid_sealing_key_id(id) || b64.empty()) {
    fail(site, ref +
                   ": a sealed reference is ${sealed:KEY_ID:BASE64} with KEY_ID in "
                   "[A-Za-z0-9_.-]{1,64} (shmconfctl seal)");
  }
  if (!ctx.unseal) fail(site, ref + ": no sealing_keys are configured for this namespace");
  try {
    return ctx.unseal(id, b64);
  } catch (const std::runtime_error& e) {
    fail(site, ref + ": " + e.what());
  }
}

// The value of one reference: `expr` is what stands between "${" and "}".
std::string resolve(std::string_view expr, const SubstitutionContext& ctx,
                    const SubstitutionSite& site) {
  if (expr.starts_with("sealed:")) return open_sealed(expr.substr(7), ctx, site);
  const std::string ref = "${" + std::string(expr) + "}";
  if (expr.starts_with("file:")) {
    const std::string path(expr.substr(5));
    if (path.empty() || path.front() != '/') fail(site, ref + ": the file path must be absolute");
    std::string why;
    auto text = read_small_file(path, ctx.max_file_size, &why);
    if (!text) fail(site, ref + ": cannot read " + path + ": " + why);
    return strip_one_newline(std::move(*text));
  }
  if (expr.starts_with("credential:")) {
    const std::string name(expr.substr(11));
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      fail(site, ref + ": a credential name is non-empty and holds no '/'");
    }
    std::optional<std::string> dir = ctx.credentials_dir;
    if (!dir) {
      const char* d = std::getenv("CREDENTIALS_DIRECTORY");
      if (d != nullptr && *d != '\0') dir = d;
    }
    if (!dir || dir->empty()) {
      fail(site, ref + ": CREDENTIALS_DIRECTORY is not set (systemd LoadCredential=)");
    }
    std::string why;
    auto text = read_small_file(*dir + "/" + name, ctx.max_file_size, &why);
    if (!text) fail(site, ref + ": cannot read credential " + name + ": " + why);
    return strip_one_newline(std::move(*text));
  }
  std::string_view name = expr;
  std::optional<std::string_view> fallback;
  if (const auto colon = expr.find(':'); colon != std::string_view::npos) {
    name = expr.substr(0, colon);
    std::string_view rest = expr.substr(colon + 1);
    if (rest.starts_with('-')) rest.remove_prefix(1);
    fallback = rest;
  }
  if (!valid_var_name(name)) {
    fail(site, ref + ": '" + std::string(name) +
                   "' is not a variable name ([A-Za-z_][A-Za-z0-9_]*), 'file:', 'credential:' "
                   "or 'sealed:'");
  }
  const std::string var(name);
  std::optional<std::string> value;
  if (ctx.getenv) {
    value = ctx.getenv(var);
  } else if (const char* v = std::getenv(var.c_str())) {
    value = v;
  }
  if (value && !(fallback && value->empty())) return *value;
  if (fallback) return std::string(*fallback);
  fail(site, ref + ": environment variable " + var + " is not set and has no default");
}

void walk(Value& v, std::string& path, const std::string& file, const SubstitutionContext& ctx,
          std::size_t& count) {
  switch (v.type) {
    case Type::kString:
      if (has_reference(v.s)) {
        SubstitutionSite site{file, v.origin.line, v.origin.column, path};
        v.s = expand(v.s, ctx, site);
        ++count;
      }
      break;
    case Type::kObject:
      for (auto& [k, c] : v.fields) {
        const std::size_t len = path.size();
        path = join_path(path, k);
        walk(c, path, file, ctx, count);
        path.resize(len);
      }
      break;
    case Type::kArray:
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        const std::size_t len = path.size();
        path = index_path(path, i);
        walk(v.items[i], path, file, ctx, count);
        path.resize(len);
      }
      break;
    default:
      break;
  }
}

void collect_sealed(const Value& v, std::string& path, std::set<std::string>& out) {
  switch (v.type) {
    case Type::kString:
      if (has_sealed_reference(v.s)) out.insert(path);
      break;
    case Type::kObject:
      for (const auto& [k, c] : v.fields) {
        const std::size_t len = path.size();
        path = join_path(path, k);
        collect_sealed(c, path, out);
        path.resize(len);
      }
      break;
    case Type::kArray:
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        const std::size_t len = path.size();
        path = index_path(path, i);
        collect_sealed(v.items[i], path, out);
        path.resize(len);
      }
      break;
    default:
      break;
  }
}

void diff_strings(const Value& a, const Value& b, std::string& path,
                  std::vector<std::string>& out) {
  if (a.type != b.type) return;  // not the same shape: nothing to compare
  switch (a.type) {
    case Type::kString:
      if (a.s != b.s) out.push_back(path);
      break;
    case Type::kObject:
      for (const auto& [k, c] : a.fields) {
        auto it = b.fields.find(k);
        if (it == b.fields.end()) continue;
        const std::size_t len = path.size();
        path = join_path(path, k);
        diff_strings(c, it->second, path, out);
        path.resize(len);
      }
      break;
    case Type::kArray:
      for (std::size_t i = 0; i < a.items.size() && i < b.items.size(); ++i) {
        const std::size_t len = path.size();
        path = index_path(path, i);
        diff_strings(a.items[i], b.items[i], path, out);
        path.resize(len);
      }
      break;
    default:
      break;
  }
}

}  // namespace

SubstitutionContext SubstitutionContext::from_process() { return SubstitutionContext{}; }

bool has_reference(std::string_view text) { return text.find("${") != std::string_view::npos; }

bool has_sealed_reference(std::string_view text) {
  std::size_t i = 0;
  while ((i = text.find('$', i)) != std::string_view::npos) {
    if (text.substr(i, 3) == "$${") {
      i += 3;
    } else if (text.substr(i, 9) == "${sealed:") {
      return true;
    } else if (text.substr(i, 2) == "${") {
      const std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) return false;
      i = close + 1;
    } else {
      ++i;
    }
  }
  return false;
}

bool valid_sealing_key_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::string expand(std::string_view text, const SubstitutionContext& ctx,
                   const SubstitutionSite& site) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, dollar - i));
    if (text.substr(dollar, 3) == "$${") {
      out.append("${");
      i = dollar + 3;
      continue;
    }
    if (text.substr(dollar, 2) != "${") {
      out.push_back('$');
      i = dollar + 1;
      continue;
    }
    const std::size_t close = text.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      fail(site, "unterminated \"${\" at character " + std::to_string(dollar + 1) +
                     " of the string; write \"$${\" for a literal \"${\"");
    }
    const std::string_view expr = text.substr(dollar + 2, close - dollar - 2);
    if (expr.empty()) fail(site, "empty reference \"${}\"");
    out.append(resolve(expr, ctx, site));
    i = close + 1;
  }
  if (!detail::valid_utf8(out)) fail(site, "the expanded string is not valid UTF-8");
  return out;
}

std::size_t substitute_tree(Value& tree, const std::string& file, const SubstitutionContext& ctx) {
  std::string path;
  std::size_t count = 0;
  walk(tree, path, file, ctx, count);
  return count;
}

std::vector<std::string> substituted_paths(const Value& resolved, const Value& templates) {
  std::vector<std::string> out;
  std::string path;
  diff_strings(resolved, templates, path, out);
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> sealed_paths(const Value& templates) {
  std::set<std::string> out;
  std::string path;
  collect_sealed(templates, path, out);
  return out;
}

}  // namespace shmconf::daemon
