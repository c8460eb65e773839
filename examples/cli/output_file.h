// The check every command makes of a file it will write, before it does the work that fills it:
// an output that cannot be written then costs nothing, and no command writes over its own input.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace minimax::cli {

// Throws a UsageError when `out` (the value of `flag`) is a directory or the same file as one of
// `inputs` (each a flag and its value; empty values are skipped), and a std::runtime_error naming
// the directory when the file's directory does not exist or cannot be written.
void check_output_file(const std::string& flag, const std::string& out,
                       const std::vector<std::pair<std::string, std::string>>& inputs);

}  // namespace minimax::cli
