// tests/daemon/validate_test_util.hpp — the ValidateTest fixture the
// validation tests share: a temporary directory, files written into it,
// files parsed and merged as the daemon does, and the schema the tests check
// configurations against.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

namespace fs = std::filesystem;

class ValidateTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shmconf-validate-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  // Parses files as the daemon does: source i is "file:<path>".
  Value load(const std::vector<std::string>& files, SourceList* names) {
    Value merged = Value::object();
    for (std::size_t i = 0; i < files.size(); ++i) {
      names->push_back("file:" + files[i]);
      merge_into(merged, parse_file(files[i], static_cast<std::uint32_t>(i)));
    }
    return merged;
  }

  static constexpr const char* kSchema = R"({
    "type": "object",
    "required": ["database"],
    "properties": {
      "database": {
        "type": "object",
        "required": ["host", "port"],
        "properties": {
          "host": {"type": "string"},
          "port": {"type": "integer", "minimum": 1, "maximum": 65535},
          "dsn": {"type": "string", "x-sensitive": true}
        }
      },
      "servers": {
        "type": "array",
        "items": {"type": "object", "properties": {"weight": {"type": "integer"}}}
      }
    }
  })";

  fs::path dir_;
  inline static int counter_ = 0;
};

}  // namespace shmconf::daemon
