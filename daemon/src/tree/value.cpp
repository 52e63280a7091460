// daemon/src/tree/value.cpp — equality, errors and canonical JSON for Value.
#include "tree/value.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <charconv>
#include <cmath>
#include <cstring>

namespace shmconf::daemon {

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return a.b == b.b;
    case Type::kInt:
      return a.i == b.i;
    case Type::kDouble:
      // Equal exactly when the canonical JSON is: -0.0 and 0.0 differ there.
      return (a.d == b.d && std::signbit(a.d) == std::signbit(b.d)) ||
             (std::isnan(a.d) && std::isnan(b.d));
    case Type::kString:
      return a.s == b.s;
    case Type::kArray:
      return a.items == b.items;
    case Type::kObject:
      return a.fields == b.fields;
  }
  return false;
}

namespace {

std::string format_error(const std::string& file, std::uint32_t line, std::uint32_t column,
                         const std::string& key_path, const std::string& message) {
  std::string out = file;
  if (line != 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(line);
    if (column != 0) {
      out += ':';
      out += std::to_string(column);
    }
  }
  if (!key_path.empty()) {
    if (!out.empty()) out += ": ";
    out += key_path;
  }
  if (!out.empty()) out += ": ";
  out += message;
  return out;
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    // JSON has no spelling for these and the parsers refuse them; a Value
    // built by hand that holds one still yields valid JSON.
    out += "null";
    return;
  }
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip
  const std::string_view text(buf, static_cast<std::size_t>(res.ptr - buf));
  out += text;
  // Keep doubles recognisable as doubles: 1.0 must not read back as int 1.
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void append_int(std::string& out, std::int64_t i) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

void newline(std::string& out, int indent) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * 2, ' ');
}

// Where append_json hands finished text: none (the caller keeps the whole
// string), or an XXH3 state that takes the text in chunks, so hashing a
// 10 MB tree needs a 64 KiB buffer rather than the whole canonical text.
struct Sink {
  XXH3_state_t* hash = nullptr;
  void maybe_flush(std::string& out) const {
    if (hash != nullptr && out.size() >= (64u << 10)) {
      XXH3_64bits_update(hash, out.data(), out.size());
      out.clear();
    }
  }
};

void append_json(std::string& out, const Value& v, bool pretty, int indent, const Sink& sink) {
  switch (v.type) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += v.b ? "true" : "false";
      return;
    case Type::kInt:
      append_int(out, v.i);
      return;
    case Type::kDouble:
      append_double(out, v.d);
      return;
    case Type::kString:
      append_json_string(out, v.s);
      return;
    case Type::kArray: {
      out += '[';
      bool first = true;
      for (const Value& item : v.items) {
        if (!first) out += ',';
        first = false;
        if (pretty) newline(out, indent + 1);
        append_json(out, item, pretty, indent + 1, sink);
        sink.maybe_flush(out);
      }
      if (pretty && !v.items.empty()) newline(out, indent);
      out += ']';
      return;
    }
    case Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [key, child] : v.fields) {
        if (!first) out += ',';
        first = false;
        if (pretty) newline(out, indent + 1);
        append_json_string(out, key);
        out += pretty ? ": " : ":";
        append_json(out, child, pretty, indent + 1, sink);
        sink.maybe_flush(out);
      }
      if (pretty && !v.fields.empty()) newline(out, indent);
      out += '}';
      return;
    }
  }
}

}  // namespace

ConfigError::ConfigError(std::string file, std::uint32_t line, std::uint32_t column,
                         std::string key_path, std::string message)
    : std::runtime_error(format_error(file, line, column, key_path, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_path_(std::move(key_path)),
      message_(std::move(message)) {}

namespace {

bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// The first byte in [p, end) that a JSON string must escape, or end.
// Sixteen bytes at a time where SSE2 is (canonical JSON of long strings,
// such as certificates and templates, is most of a content hash's work).
const char* next_escape(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i control_max = _mm_set1_epi8(0x1F);
  for (; end - p >= 16; p += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // b <= 0x1F unsigned: min(b, 0x1F) == b.
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(b, control_max), b);
    const __m128i hit =
        _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)));
    if (const int mask = _mm_movemask_epi8(hit); mask != 0) return p + __builtin_ctz(mask);
  }
#endif
  while (p != end && !needs_escape(static_cast<unsigned char>(*p))) ++p;
  return p;
}

// The short forms RFC 8259 offers, as RFC 8785 (JCS) picks them, so the
// canonical text is unique; other control characters as \u00xx.
void append_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, sizeof esc);
    }
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  const char* p = s.data();
  const char* const end = p + s.size();
  for (;;) {
    const char* e = next_escape(p, end);
    out.append(p, static_cast<std::size_t>(e - p));
    if (e == end) break;
    append_escape(out, static_cast<unsigned char>(*e));
    p = e + 1;
  }
  out += '"';
}

const Value* find_path(const Value& root, std::string_view path) {
  const Value* cur = &root;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[') {
      const std::size_t close = path.find(']', i);
      if (close == std::string_view::npos || cur->type != Type::kArray) return nullptr;
      std::size_t n = 0;
      for (std::size_t j = i + 1; j < close; ++j) {
        if (path[j] < '0' || path[j] > '9' || n > cur->items.size()) return nullptr;
        n = n * 10 + static_cast<std::size_t>(path[j] - '0');
      }
      if (close == i + 1 || n >= cur->items.size()) return nullptr;
      cur = &cur->items[n];
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    const std::size_t end = path.find_first_of(".[", i);
    const std::string_view name = path.substr(i, end == std::string_view::npos ? end : end - i);
    if (cur->type != Type::kObject) return nullptr;
    const auto it = cur->fields.find(name);
    if (it == cur->fields.end()) return nullptr;
    cur = &it->second;
    if (end == std::string_view::npos) break;
    i = path[end] == '.' ? end + 1 : end;
  }
  return cur;
}

std::string to_json(const Value& v, bool pretty) {
  std::string out;
  append_json(out, v, pretty, 0, Sink{});
  return out;
}

std::uint64_t content_hash(const Value& v) {
  // Streaming XXH3 gives the same digest as one call over the whole text.
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  std::string chunk;
  chunk.reserve((64u << 10) + 4096);
  append_json(chunk, v, false, 0, Sink{&state});
  XXH3_64bits_update(&state, chunk.data(), chunk.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace shmconf::daemon
