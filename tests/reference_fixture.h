// The committed reference fixtures (tests/data/*.json, written by the scripts of tests/reference
// with PyTorch): each read once, a missing or malformed file an error message every test case
// reports, not a crash.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace minimax::testing {

struct ReferenceFixture {
  std::string path;
  std::string error;  // empty when loaded
  nlohmann::json doc;
  const nlohmann::json& cases() const { return doc.at("cases"); }
};

// tests/data/NAME: a JSON object of format_version `version` with a "cases" list. `regenerate`
// ends every error message: how to write the file anew.
inline ReferenceFixture read_reference_fixture(const std::string& name, int version,
                                               const std::string& regenerate) {
  ReferenceFixture r;
  r.path = std::string(MINIMAX_TEST_DATA_DIR) + "/" + name;
  std::ifstream in(r.path);
  if (!in) {
    r.error = "cannot open " + r.path + "; " + regenerate;
    return r;
  }
  try {
    r.doc = nlohmann::json::parse(in);
    if (!r.doc.is_object() || !r.doc.contains("cases") || !r.doc["cases"].is_array())
      r.error = r.path + " has no \"cases\" list; " + regenerate;
    else if (r.doc.value("format_version", 0) != version)
      r.error = r.path + " has format_version " +
                r.doc.value("format_version", nlohmann::json()).dump() + ", these tests read " +
                std::to_string(version) + "; " + regenerate;
  } catch (const nlohmann::json::exception& e) {
    r.error = "cannot parse " + r.path + ": " + e.what() + "; " + regenerate;
  }
  return r;
}

}  // namespace minimax::testing
