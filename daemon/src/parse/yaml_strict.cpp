// daemon/src/parse/yaml_strict.cpp — see yaml_strict.hpp.
#include "parse/yaml_strict.hpp"

#include <cstdint>

namespace shmconf::daemon::detail {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The length of the escape that starts at text[i] == '\\', or 0 when it is
// not one of YAML 1.2's (spec 5.7).
std::size_t escape_length(std::string_view text, std::size_t i) {
  if (i + 1 >= text.size()) return 0;
  std::size_t hex = 0;
  switch (text[i + 1]) {
    case '0':
    case 'a':
    case 'b':
    case 't':
    case '\t':
    case 'n':
    case 'v':
    case 'f':
    case 'r':
    case 'e':
    case ' ':
    case '"':
    case '/':
    case '\\':
    case 'N':
    case '_':
    case 'L':
    case 'P':
    case '\n':
    case '\r':
      return 2;
    case 'x':
      hex = 2;
      break;
    case 'u':
      hex = 4;
      break;
    case 'U':
      hex = 8;
      break;
    default:
      return 0;
  }
  if (i + 2 + hex > text.size()) return 0;
  for (std::size_t k = 0; k < hex; ++k) {
    if (!is_hex(text[i + 2 + k])) return 0;
  }
  return 2 + hex;
}

// Where the quoted scalar opened at `open` closes (the offset of its closing
// quote), or an error.
std::optional<YamlStrictError> find_close(std::string_view text, std::size_t open,
                                          std::size_t& close) {
  const char quote = text[open];
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quote == '"' && c == '\\') {
      const std::size_t n = escape_length(text, i);
      if (n == 0) {
        return YamlStrictError{i,
                               "invalid escape in a double-quoted string (YAML has \\\\, "
                               "\\\", \\n, \\t, \\xXX, \\uXXXX, ...; write ' as is)"};
      }
      i += n - 1;
    } else if (c == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;  // '' is a single quote inside single quotes
        continue;
      }
      close = i;
      return std::nullopt;
    }
  }
  return YamlStrictError{open, quote == '"' ? "double-quoted string is never closed"
                                            : "single-quoted string is never closed"};
}

// Every line of [open, close] after the first that holds more than white
// space starts with at least `min_indent` spaces (tabs are not indentation).
std::optional<YamlStrictError> check_continuations(std::string_view text, std::size_t open,
                                                   std::size_t close, std::size_t min_indent) {
  for (std::size_t i = text.find('\n', open); i != std::string_view::npos && i < close;
       i = text.find('\n', i + 1)) {
    std::size_t j = i + 1;
    while (j < text.size() && text[j] == ' ') ++j;
    std::size_t k = j;
    while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
    const bool blank = k >= text.size() || text[k] == '\n' || text[k] == '\r';
    if (!blank && j - (i + 1) < min_indent) {
      std::string m = "continuation line of a quoted string must be indented by at least ";
      m += std::to_string(min_indent);
      m += min_indent == 1 ? " space" : " spaces";
      m += " (more than its key or '-'; tabs do not count)";
      return YamlStrictError{j, std::move(m)};
    }
  }
  return std::nullopt;
}

bool is_space_or_break(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The 0-based column of text[i].
std::size_t column_at(std::string_view text, std::size_t i) {
  const std::size_t nl = text.rfind('\n', i == 0 ? 0 : i - 1);
  return nl == std::string_view::npos || i == 0 ? i : i - nl - 1;
}

bool only_spaces_before(std::string_view text, std::size_t i) {
  while (i > 0 && text[i - 1] == ' ') --i;
  return i == 0 || text[i - 1] == '\n';
}

// Skips white space, comments and line breaks from text[i]; true when a line
// break was crossed.
bool skip_separation(std::string_view text, std::size_t& i) {
  bool crossed = false;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '#' && (i == 0 || is_space_or_break(text[i - 1]))) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '\n') {
      crossed = true;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else {
      break;
    }
  }
  return crossed;
}

// From the line break `nl` that ends a block scalar's header: the empty
// lines before its first line of content hold no more spaces than it.
std::optional<YamlStrictError> check_leading_lines(std::string_view text, std::size_t nl,
                                                   std::size_t parent_column) {
  std::size_t widest = 0;
  std::size_t widest_at = 0;
  for (std::size_t start = nl; start != std::string_view::npos && start + 1 < text.size();
       start = text.find('\n', start + 1)) {
    std::size_t j = start + 1;
    while (j < text.size() && text[j] == ' ') ++j;
    const std::size_t spaces = j - (start + 1);
    if (j < text.size() && text[j] != '\n' && text[j] != '\r') {
      if (spaces > parent_column && widest > spaces) {
        return YamlStrictError{widest_at,
                               "a leading empty line of a block scalar holds more "
                               "spaces than its first line of text"};
      }
      return std::nullopt;
    }
    if (spaces > widest) {
      widest = spaces;
      widest_at = start + 1;
    }
  }
  return std::nullopt;
}

YamlStrictError unexpected(std::size_t offset, char c, std::string_view where) {
  std::string m = "unexpected '";
  m += c;
  m += "' ";
  m += where;
  if (c == '#') m += " (a comment needs a space before '#')";
  return YamlStrictError{offset, std::move(m)};
}

}  // namespace

std::optional<YamlStrictError> check_quoted_scalar(std::string_view text, std::size_t offset,
                                                   std::size_t min_indent) {
  if (offset >= text.size() || (text[offset] != '"' && text[offset] != '\'')) return std::nullopt;
  std::size_t close = 0;
  if (auto e = find_close(text, offset, close)) return e;
  if (min_indent > 0) {
    if (auto e = check_continuations(text, offset, close, min_indent)) return e;
  }
  const std::size_t after = close + 1;
  if (after < text.size()) {
    const char c = text[after];
    const bool ok = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':' || c == ',' ||
                    c == ']' || c == '}';
    if (!ok) return unexpected(after, c, "right after a quoted string");
  }
  return std::nullopt;
}

std::optional<YamlStrictError> check_block_header(std::string_view text, std::size_t offset,
                                                  std::size_t parent_column) {
  if (offset >= text.size() || (text[offset] != '|' && text[offset] != '>')) return std::nullopt;
  std::size_t i = offset + 1;
  bool explicit_indent = false;
  for (int k = 0; k < 2 && i < text.size(); ++k) {
    const char c = text[i];
    if (c >= '1' && c <= '9') explicit_indent = true;
    if ((c >= '1' && c <= '9') || c == '+' || c == '-') ++i;
  }
  if (i >= text.size()) return std::nullopt;
  const char c = text[i];
  if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
    return unexpected(i, c, "in a block scalar header");
  }
  if (explicit_indent) return std::nullopt;
  return check_leading_lines(text, text.find('\n', i), parent_column);
}

std::optional<YamlStrictError> check_properties(std::string_view text, std::size_t offset,
                                                std::size_t min_indent, bool first_on_key_line) {
  std::size_t i = offset;
  std::size_t column = column_at(text, i);
  bool line_start = !first_on_key_line && only_spaces_before(text, i);
  while (i < text.size() && (text[i] == '&' || text[i] == '!')) {
    if (line_start && column < min_indent) {
      return YamlStrictError{i,
                             "an anchor or tag on a line of its own must be indented more "
                             "than its key"};
    }
    while (i < text.size() && !is_space_or_break(text[i])) ++i;  // the token
    line_start = skip_separation(text, i);
    column = column_at(text, i);
  }
  return std::nullopt;
}

void advance_position(std::string_view text, std::size_t from, std::size_t to, std::uint32_t& line,
                      std::uint32_t& column) {
  for (std::size_t i = from; i < to && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
}

}  // namespace shmconf::daemon::detail
