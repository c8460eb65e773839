// Lookups shared by the command line's registries (data sets, models, optimizers): entries are
// plain values with a `name`, kept in a vector in the order --help lists them.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "examples/cli/config.h"

namespace minimax::cli {

// "a, b or c".
inline std::string join_or(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

template <class Entry>
std::string joined_names(const std::vector<Entry>& entries) {
  std::vector<std::string> names;
  for (const Entry& entry : entries) names.push_back(entry.name);
  return join_or(names);
}

// The entry called `name`; UsageError "--flag: unknown KIND 'name' (choose ...)" otherwise.
template <class Entry>
const Entry& find_entry(const std::vector<Entry>& entries, const std::string& name,
                        const char* flag, const char* kind) {
  for (const Entry& entry : entries)
    if (entry.name == name) return entry;
  throw UsageError(
      fmt::format("{}: unknown {} '{}' (choose {})", flag, kind, name, joined_names(entries)));
}

}  // namespace minimax::cli
