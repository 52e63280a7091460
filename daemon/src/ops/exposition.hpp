// daemon/src/ops/exposition.hpp — the Prometheus text exposition format
// (version 0.0.4): HELP and TYPE lines, samples with escaped label values,
// and histograms as cumulative _bucket{le=...} series ending in le="+Inf",
// plus _sum and _count.
//
// Thread-safety: none; a builder is used by one thread. Cost: appends to a
// string, a few hundred bytes per family.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmconf::daemon::ops {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A label value: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view v);
// A HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view v);
// A sample value: integers without exponent or fraction, NaN, +Inf, -Inf,
// otherwise the shortest text that reads back as the same double.
std::string format_value(double v);
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (no "__" prefix).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// Fixed upper bounds, chosen once; observe() is O(buckets).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (not cumulative): counts()[i] counts values <= bounds()[i]
  // and above the previous bound; the last entry counts values above all.
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Builds one exposition text. Declare a family, then add its samples; each
// family name may be declared once. Invalid metric or label names throw
// std::invalid_argument (they are programming errors, not input).
class Exposition {
 public:
  // type: "counter", "gauge", "histogram", "untyped".
  void family(std::string_view name, std::string_view type, std::string_view help);
  // `name` is the family name, or for a histogram its _bucket/_sum/_count.
  void sample(std::string_view name, const Labels& labels, double value);
  void histogram(std::string_view name, const Labels& labels, const Histogram& h);
  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  std::vector<std::string> declared_;
};

}  // namespace shmconf::daemon::ops
