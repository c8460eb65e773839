#include "models/dist/communicator.h"

#include <cstdio>
#include <cstdlib>

namespace minimax::dist {

void Communicator::broadcast(std::string& text) {
  uint64_t length = text.size();
  broadcast_bytes(std::as_writable_bytes(std::span(&length, 1)));
  text.resize(length);
  broadcast_bytes(std::as_writable_bytes(std::span(text.data(), text.size())));
}

void Communicator::abort(const std::string& message, int status) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  end_job(status);
  std::_Exit(status);
}

void SingleProcess::end_job(int status) {
  std::exit(status);
}

}  // namespace minimax::dist
