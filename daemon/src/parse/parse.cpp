// daemon/src/parse/parse.cpp — dispatch by format, file reading, and the
// checks the three parsers share (parse_internal.hpp).
#include "parse/parse.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "parse/parse_internal.hpp"

namespace shmconf::daemon {
namespace detail {

// ---- positions -------------------------------------------------------------

Pos LineIndex::locate(std::size_t offset) const {
  offset = std::min(offset, text_.size());
  if (offset < offset_) offset_ = line_ = line_start_ = 0;
  const char* const begin = text_.data();
  std::size_t i = offset_;
#ifdef __SSE2__
  // Sixteen bytes at a time: a mask of the newlines (cut at `offset` in
  // the last block), counted, and the last one kept as the line start.
  // Queries are a key or a value apart, tens of bytes: a memchr call per
  // line, or a byte loop, cost more than these one to three blocks.
  const __m128i newline = _mm_set1_epi8('\n');
  while (i < offset && i + 16 <= text_.size()) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(begin + i));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, newline)));
    const std::size_t n = std::min<std::size_t>(16, offset - i);
    if (n < 16) mask &= (1u << n) - 1;
    if (mask != 0) {
      // A bit loop, not __builtin_popcount: without -mpopcnt that is a
      // libgcc call, and a block holds no or one newline as a rule.
      for (unsigned m = mask; m != 0; m &= m - 1) ++line_;
      line_start_ = i + static_cast<std::size_t>(32 - __builtin_clz(mask));
    }
    i += n;
  }
#endif
  for (; i < offset; ++i) {
    if (begin[i] != '\n') continue;
    ++line_;
    line_start_ = i + 1;
  }
  offset_ = offset;
  auto clamp = [](std::size_t v) {
    return static_cast<std::uint32_t>(std::min<std::size_t>(v, UINT32_MAX));
  };
  return Pos{clamp(line_ + 1), clamp(offset - line_start_ + 1)};
}

// ---- UTF-8 ------------------------------------------------------------------

std::size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0u) != 0x80u) return i;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return i;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return i;
    i += len;
  }
  return n;
}

bool valid_utf8(std::string_view text) {
  // simdjson's validator is SIMD and dispatched at run time; the scalar one
  // above only runs to locate an error.
  return simdjson::validate_utf8(text.data(), text.size());
}

std::string quote(std::string_view s, std::size_t max) {
  std::string out;
  if (s.size() <= max) {
    append_json_string(out, s);
    return out;
  }
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0u) == 0x80u) --cut;
  append_json_string(out, s.substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

// ---- Members -------------------------------------------------------------------

Value& Members::add(std::string_view key, Pos pos, const Checker& check) {
  if (adjacent_duplicate(key)) check.fail_duplicate_key(key, pos);
  return append(key, std::uint64_t{pos.line} << 32 | pos.column);
}

Value& Members::add(std::string_view key, std::size_t offset, const LineIndex& lines,
                    const Checker& check) {
  lines_ = &lines;
  if (adjacent_duplicate(key)) check.fail_duplicate_key(key, lines.locate(offset));
  return append(key, offset);
}

Value& Members::append(std::string_view key, std::uint64_t mark) {
  members_.emplace_back(std::piecewise_construct, std::forward_as_tuple(key),
                        std::forward_as_tuple());
  marks_.push_back(mark);
  return members_.back().second;
}

// The first eight bytes of `key` as a big-endian number (zero-padded): a
// different prefix orders two keys as comparing their bytes would.
std::uint64_t Members::key_prefix(std::string_view key) {
  unsigned char b[8] = {};
  std::memcpy(b, key.data(), std::min<std::size_t>(key.size(), 8));
  std::uint64_t v = 0;
  for (const unsigned char c : b) v = v << 8 | c;
  return v;
}

Pos Members::position(std::size_t i) const {
  if (lines_ != nullptr) return lines_->locate(marks_[i]);
  return Pos{static_cast<std::uint32_t>(marks_[i] >> 32), static_cast<std::uint32_t>(marks_[i])};
}

void Members::finish(Value& object, const Checker& check) {
  using Sequence = decltype(members_);
  Sequence exact;
  exact.reserve(members_.size());
  if (sorted_) {
    for (auto& m : members_) exact.push_back(std::move(m));
  } else {
    // Sort compact entries, not the members: each holds the key's first
    // eight bytes as a number, so most comparisons touch only the entry
    // array (comparing the members themselves reads a random 136-byte pair
    // per side, and a 200k-key object spent most of its parse there). Ties
    // on the key fall back to file order, so a duplicate is reported at its
    // later occurrence.
    sort_.resize(members_.size());
    for (std::uint32_t i = 0; i < sort_.size(); ++i) {
      const std::string_view key = members_[i].first;
      sort_[i] = SortEntry{key_prefix(key), key, i};
    }
    std::sort(sort_.begin(), sort_.end(), [](const SortEntry& a, const SortEntry& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      if (const int c = a.key.compare(b.key); c != 0) return c < 0;
      return a.index < b.index;
    });
    for (std::size_t i = 1; i < sort_.size(); ++i) {
      if (sort_[i].key == sort_[i - 1].key) {
        check.fail_duplicate_key(sort_[i].key, position(sort_[i].index));
      }
    }
    for (const SortEntry& e : sort_) exact.push_back(std::move(members_[e.index]));
  }
  object.fields.adopt_sequence(boost::container::ordered_unique_range, std::move(exact));
  clear();
}

// ---- Checker -----------------------------------------------------------------

Checker::Checker(const std::string& file, std::uint32_t source, const Limits& limits)
    : file_(file),
      source_(source),
      limits_(limits),
      // The segment format cannot hold deeper trees, and every recursion in
      // the daemon (to_json, merge, the builder) is bounded by this.
      max_depth_(std::min(limits.max_depth, format::kMaxDepth)) {}

std::string Checker::path() const {
  std::string out;
  out.reserve(path_length());
  for (const Component& c : path_) {
    if (c.is_index) {
      out += '[';
      out += std::to_string(c.index);
      out += ']';
    } else {
      if (!out.empty()) out += '.';
      out += c.key;
    }
  }
  return out;
}

void Checker::fail(Pos p, std::string message) const {
  throw ConfigError(file_, p.line, p.column, path(), std::move(message));
}

void Checker::fail_no_path(Pos p, std::string message) const {
  throw ConfigError(file_, p.line, p.column, {}, std::move(message));
}

void Checker::fail_too_many(Pos p) const {
  fail(p, "more than " + std::to_string(limits_.max_nodes) + " values (limit max_nodes)");
}

void Checker::fail_alias_bomb(Pos p) const {
  fail(p, "aliases expand to more than " + std::to_string(limits_.max_alias_nodes) +
              " values (limit max_alias_nodes); an alias bomb?");
}

void Checker::fail_too_deep(Pos p) const {
  fail(p, "nesting deeper than " + std::to_string(max_depth_) + " levels");
}

void Checker::fail_path_too_long(std::string_view component, std::size_t length, Pos p) const {
  fail(p, quote(component) + " makes the key path " + std::to_string(length) +
              " bytes long; the limit is " + std::to_string(limits_.max_path_length));
}

void Checker::fail_bad_utf8(std::string_view s, Pos p) const {
  fail(p, "invalid UTF-8 in string at byte " + std::to_string(first_invalid_utf8(s)));
}

void Checker::fail_duplicate_key(std::string_view key, Pos p) const {
  fail(p, "duplicate key " + quote(key));
}

void Checker::validate_key(std::string_view key, Pos p, bool utf8_known_valid) const {
  if (key.empty()) fail(p, "empty key; keys must be non-empty strings");
  if (!utf8_known_valid && !valid_utf8(key)) fail(p, "key is not valid UTF-8");
  if (key.size() > limits_.max_key_length) {
    fail(p, "key of " + std::to_string(key.size()) + " bytes is longer than the limit of " +
                std::to_string(limits_.max_key_length));
  }
  if (std::size_t at = find_path_separator(key); at != std::string_view::npos) {
    fail(p, "key " + quote(key) + " contains '" + key[at] +
                "'; '.', '[' and ']' are not allowed in keys (they separate key paths)");
  }
}

void Checker::push_key(std::string_view key, Pos p) {
  if (!try_push_key(key)) fail_path_too_long(key, key_path_length(path_length(), key.size()), p);
}

std::size_t Checker::index_path_length(std::size_t parent, std::size_t i) {
  std::size_t digits = 1;
  for (; i >= 10; i /= 10) ++digits;
  return parent + 2 + digits;
}

void Checker::push_index(std::size_t i, Pos p) {
  if (!try_push_index(i)) {
    fail_path_too_long("[" + std::to_string(i) + "]", index_path_length(path_length(), i), p);
  }
}

void Checker::check_subtree_fits(const Value& v, Pos p) const {
  check_subtree(v, depth_, path_length(), p);
}

void Checker::check_subtree(const Value& v, std::uint32_t depth, std::size_t path_length,
                            Pos p) const {
  if (!v.is_container()) return;
  if (depth >= max_depth_) fail_too_deep(p);
  if (v.type == Type::kObject) {
    for (const auto& [key, child] : v.fields) {
      const std::size_t length = key_path_length(path_length, key.size());
      if (length > limits_.max_path_length) fail_path_too_long(key, length, p);
      check_subtree(child, depth + 1, length, p);
    }
  } else {
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      const std::size_t length = index_path_length(path_length, i);
      if (length > limits_.max_path_length) {
        fail_path_too_long("[" + std::to_string(i) + "]", length, p);
      }
      check_subtree(v.items[i], depth + 1, length, p);
    }
  }
}

}  // namespace detail

// ---- public API ----------------------------------------------------------------

namespace {

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(),
                    s.end() - static_cast<std::ptrdiff_t>(suffix.size()), [](char a, char b) {
                      return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
                    });
}

// `capacity`: readable bytes from text.data(); see detail::parse_json.
Value parse_buffer(std::string_view text, std::size_t capacity, Format format,
                   const std::string& display_name, std::uint32_t source, const Limits& limits) {
  detail::Checker check(display_name, source, limits);
  if (text.size() > limits.max_file_size) {
    check.fail_no_path({}, "input of " + std::to_string(text.size()) +
                               " bytes is larger than the limit of " +
                               std::to_string(limits.max_file_size));
  }
  switch (format) {
    case Format::kJson:
      return detail::parse_json(text, capacity, check);
    case Format::kYaml:
      return detail::parse_yaml(text, check);
    case Format::kToml:
      return detail::parse_toml(text, check);
  }
  check.fail_no_path({}, "unknown format");
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void fail_file(const std::string& path, const std::string& what, int err) {
  throw ConfigError(path, 0, 0, {}, what + ": " + std::generic_category().message(err));
}

}  // namespace

std::optional<Format> format_for_path(std::string_view path) {
  if (ends_with_nocase(path, ".json")) return Format::kJson;
  if (ends_with_nocase(path, ".yaml") || ends_with_nocase(path, ".yml")) return Format::kYaml;
  if (ends_with_nocase(path, ".toml")) return Format::kToml;
  return std::nullopt;
}

Value parse_text(std::string_view text, Format format, const std::string& display_name,
                 std::uint32_t source, const Limits& limits) {
  return parse_buffer(text, text.size(), format, display_name, source, limits);
}

TextFacts scan_text(std::string_view text, Format format) {
  const auto has = [&](std::string_view needle) {
    return text.find(needle) != std::string_view::npos;
  };
  TextFacts f;
  switch (format) {
    case Format::kJson:
      f.may_have_dollar = has("$") || has("\\u");
      f.may_have_null = has("null");
      break;
    case Format::kToml:
      f.may_have_dollar = has("$") || has("\\u") || has("\\U");
      f.may_have_null = false;
      break;
    default:  // YAML: escapes, tags (!!binary) and implicit nulls
      f.may_have_dollar = has("$") || has("\\") || has("!");
      f.may_have_null = true;
      break;
  }
  return f;
}

Value parse_file(const std::string& path, std::uint32_t source, const Limits& limits,
                 TextFacts* facts) {
  const std::optional<Format> format = format_for_path(path);
  if (!format) {
    throw ConfigError(path, 0, 0, {},
                      "unknown file extension; expected .json, .yaml, .yml or .toml");
  }
  // O_NONBLOCK so a FIFO planted in a watched directory cannot hang the
  // reload in open(); it is refused as not a regular file just below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) fail_file(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_file(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) throw ConfigError(path, 0, 0, {}, "not a regular file");
  const auto too_large = [&](std::size_t size) {
    throw ConfigError(path, 0, 0, {},
                      "file of " + std::to_string(size) + " bytes is larger than the limit of " +
                          std::to_string(limits.max_file_size));
  };
  if (static_cast<std::uint64_t>(st.st_size) > limits.max_file_size) {
    too_large(static_cast<std::size_t>(st.st_size));
  }

  // Read to EOF rather than trusting st_size: the file may still be growing
  // under a writer that does not rename into place. The buffer is not
  // zero-filled first (read() writes it); only the JSON padding is zeroed.
  std::size_t room = static_cast<std::size_t>(st.st_size);  // data bytes buf can take
  std::unique_ptr<char[]> buf(new char[room + detail::kJsonPadding]);
  std::size_t size = 0;
  for (;;) {
    char probe = 0;
    const bool full = size == room;
    // When full, probe with one byte instead of growing a large buffer just
    // to learn that the file ended where fstat said.
    const ssize_t got =
        full ? ::read(fd.get(), &probe, 1) : ::read(fd.get(), buf.get() + size, room - size);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_file(path, "cannot read", errno);
    }
    if (got == 0) break;
    if (full) {
      if (size + 1 > limits.max_file_size) too_large(size + 1);
      room = std::min(std::max(room * 2, std::size_t{4096}), limits.max_file_size + 1);
      std::unique_ptr<char[]> bigger(new char[room + detail::kJsonPadding]);
      std::memcpy(bigger.get(), buf.get(), size);
      buf = std::move(bigger);
      buf[size] = probe;
    }
    size += static_cast<std::size_t>(got);
    if (size > limits.max_file_size) too_large(size);
  }
  std::memset(buf.get() + size, 0, detail::kJsonPadding);
  if (facts != nullptr) *facts = scan_text(std::string_view(buf.get(), size), *format);
  return parse_buffer(std::string_view(buf.get(), size), size + detail::kJsonPadding, *format, path,
                      source, limits);
}

std::string join_path(std::string_view parent, std::string_view key) {
  std::string out;
  out.reserve(detail::Checker::key_path_length(parent.size(), key.size()));
  out += parent;
  if (!parent.empty()) out += '.';
  out += key;
  return out;
}

std::string index_path(std::string_view parent, std::size_t i) {
  std::string out;
  out.reserve(detail::Checker::index_path_length(parent.size(), i));
  out += parent;
  out += '[';
  out += std::to_string(i);
  out += ']';
  return out;
}

}  // namespace shmconf::daemon
