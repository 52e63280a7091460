// tests/support/exposition_parser.hpp — a strict parser of the Prometheus
// text exposition format (0.0.4) for the metrics tests: every line must be a
// HELP, TYPE or sample line; names and label names must be valid; label
// values may use only the \\ \" \n escapes; values parse as floats (NaN,
// +Inf, -Inf included); a family's TYPE comes before its samples, once, and
// its samples are contiguous; a histogram's buckets carry le, are cumulative
// and end with le="+Inf" equal to _count.
//
// Thread-safety: plain functions. Throws std::runtime_error("line N: ...").
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shmconf::testing_support {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromText {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;   // family -> help
  std::vector<PromSample> samples;

  // The value of the one sample named `name` whose labels include `want`.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& want = {}) const {
    std::optional<double> found;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : want) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (!match) continue;
      if (found) throw std::runtime_error("more than one sample matches " + name);
      found = s.value;
    }
    return found;
  }
};

namespace detail {

inline bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

inline bool valid_metric(std::string_view n) {
  if (n.empty() || !(name_start(n[0]) || n[0] == ':')) return false;
  for (char c : n)
    if (!(name_char(c) || c == ':')) return false;
  return true;
}

inline double parse_float(const std::string& t) {
  if (t == "NaN") return std::nan("");
  if (t == "+Inf" || t == "Inf") return INFINITY;
  if (t == "-Inf") return -INFINITY;
  if (t.empty()) throw std::runtime_error("empty value");
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) throw std::runtime_error("bad value '" + t + "'");
  return d;
}

// The family a sample name belongs to, given the declared types.
inline std::string family_of(const std::string& name,
                             const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view sv(suffix);
    if (name.size() > sv.size() && name.ends_with(sv)) {
      const std::string base = name.substr(0, name.size() - sv.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace detail

inline PromText parse_exposition(std::string_view text) {
  PromText out;
  std::set<std::string> finished;  // families whose samples ended
  std::string current;             // family of the previous line
  std::size_t line_no = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(line_no) + ": " + why);
  };
  auto switch_to = [&](const std::string& fam) {
    if (fam == current) return;
    if (finished.count(fam)) fail("samples of " + fam + " are not contiguous");
    if (!current.empty()) finished.insert(current);
    current = fam;
  };
  if (!text.empty() && text.back() != '\n')
    throw std::runtime_error("text does not end in a newline");
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty()) fail("empty line");
    if (line[0] == '#') {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        const std::string rest = line.substr(7);
        const auto sp = rest.find(' ');
        const std::string name = rest.substr(0, sp);
        if (!detail::valid_metric(name)) fail("bad metric name '" + name + "'");
        const std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
        if (line[2] == 'T') {
          static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                       "untyped"};
          if (!kTypes.count(arg)) fail("bad type '" + arg + "'");
          if (out.types.count(name)) fail("second TYPE for " + name);
          for (const auto& s : out.samples)
            if (detail::family_of(s.name, {{name, arg}}) == name)
              fail("TYPE after samples of " + name);
          out.types[name] = arg;
        } else {
          for (std::size_t i = 0; i < arg.size(); ++i) {
            if (arg[i] == '\\') {
              if (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n'))
                fail("bad escape in HELP");
              ++i;
            }
          }
          if (out.help.count(name)) fail("second HELP for " + name);
          out.help[name] = arg;
        }
        switch_to(name);
      }
      continue;  // other comments are allowed
    }
    PromSample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!detail::valid_metric(s.name)) fail("bad metric name '" + s.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t j = i;
        while (j < line.size() && detail::name_char(line[j])) ++j;
        const std::string lname = line.substr(i, j - i);
        if (lname.empty() || !detail::name_start(lname[0])) fail("bad label name '" + lname + "'");
        if (j + 1 >= line.size() || line[j] != '=' || line[j + 1] != '"')
          fail("expected =\" after " + lname);
        j += 2;
        std::string value;
        for (;; ++j) {
          if (j >= line.size()) fail("unterminated label value");
          if (line[j] == '"') break;
          if (line[j] == '\\') {
            ++j;
            if (j >= line.size()) fail("dangling escape");
            if (line[j] == 'n')
              value += '\n';
            else if (line[j] == '\\' || line[j] == '"')
              value += line[j];
            else
              fail("bad escape in label value");
          } else {
            value += line[j];
          }
        }
        if (s.labels.count(lname)) fail("duplicate label " + lname);
        s.labels[lname] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) fail("unterminated label set");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') fail("expected a space before the value");
    const std::string rest = line.substr(i + 1);
    const auto sp = rest.find(' ');
    try {
      s.value = detail::parse_float(rest.substr(0, sp));
      if (sp != std::string::npos) {  // an optional timestamp: an integer, nothing after it
        const std::string ts = rest.substr(sp + 1);
        std::size_t k = ts.starts_with('-') ? 1 : 0;
        if (k >= ts.size()) fail("empty timestamp");
        for (; k < ts.size(); ++k)
          if (ts[k] < '0' || ts[k] > '9') fail("bad timestamp '" + ts + "'");
      }
    } catch (const std::exception& e) {
      fail(e.what());
    }
    const std::string fam = detail::family_of(s.name, out.types);
    switch_to(fam);
    out.samples.push_back(std::move(s));
  }
  // Histograms: cumulative buckets ending in +Inf == _count, per label set.
  for (const auto& [fam, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const auto& s : out.samples) {
      if (s.name == fam + "_bucket") {
        auto labels = s.labels;
        auto le = labels.find("le");
        if (le == labels.end()) throw std::runtime_error(fam + ": bucket without le");
        const double bound = detail::parse_float(le->second);
        labels.erase(le);
        buckets[labels].emplace_back(bound, s.value);
      } else if (s.name == fam + "_count") {
        counts[s.labels] = s.value;
      }
    }
    for (const auto& [labels, bs] : buckets) {
      for (std::size_t k = 1; k < bs.size(); ++k) {
        if (bs[k].first <= bs[k - 1].first || bs[k].second < bs[k - 1].second)
          throw std::runtime_error(fam + ": buckets not increasing or not cumulative");
      }
      if (bs.empty() || !std::isinf(bs.back().first))
        throw std::runtime_error(fam + ": no +Inf bucket");
      if (!counts.count(labels) || counts[labels] != bs.back().second)
        throw std::runtime_error(fam + ": +Inf bucket differs from _count");
    }
  }
  return out;
}

}  // namespace shmconf::testing_support
