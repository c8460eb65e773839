// Replacing a file atomically: its new contents go to a temporary file beside it, which is synced
// and renamed over it, so a crash at any moment leaves the old file or the new one, never a torn
// one (a half-written image, array or checkpoint that a later run would take for a whole one).
// Where the file system has O_TMPFILE, the data is written to an unnamed file, so a writer killed
// mid-write (SIGKILL, Ctrl-C) leaves no temporary file behind either.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace minimax::io {

// Writes the pieces, one after another, as the whole new content of `path`. Returns an empty
// string on success, otherwise what failed ("cannot create a temporary file beside it: Permission
// denied"), so that each file format can throw its own error type naming the file.
std::string write_file_atomically(const std::filesystem::path& path,
                                  std::initializer_list<std::span<const unsigned char>> pieces);

// The same for a text file (a configuration, a JSON result, a report): throws std::runtime_error
// "cannot write PATH: what failed".
void write_text_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace minimax::io
