// Replacing a file atomically: its new contents go to a temporary file beside it, which is synced
// and renamed over it, so a crash at any moment leaves the old file or the new one, never a torn
// one (a half-written image or array that a later run would take for a whole one).
#pragma once

#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>

namespace minimax::io {

// Writes the pieces, one after another, as the whole new content of `path`. Returns an empty
// string on success, otherwise what failed ("cannot create a temporary file beside it: Permission
// denied"), so that each file format can throw its own error type naming the file.
std::string write_file_atomically(const std::filesystem::path& path,
                                  std::initializer_list<std::span<const unsigned char>> pieces);

}  // namespace minimax::io
