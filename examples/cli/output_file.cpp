#include "examples/cli/output_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "examples/cli/config.h"

namespace minimax::cli {

namespace fs = std::filesystem;

void check_output_file(const std::string& flag, const std::string& out,
                       const std::vector<std::pair<std::string, std::string>>& inputs) {
  const fs::path path(out);
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw UsageError(fmt::format("{} {} is a directory: give a file name", flag, out));
  for (const auto& [input_flag, input] : inputs)
    if (!input.empty() && fs::equivalent(path, input, ec))
      throw UsageError(fmt::format("{} {} is the file {} reads: writing it would destroy it", flag,
                                   out, input_flag));
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(
        fmt::format("{} {}: the directory {} does not exist", flag, out, dir.string()));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw std::runtime_error(fmt::format("{} {}: cannot write in {}: {}", flag, out, dir.string(),
                                         std::strerror(errno)));
}

}  // namespace minimax::cli
