// A run's configuration as JSON (config.json, and the copy inside every checkpoint), parsed as
// `minimax sample` and `train --resume` parse it. A configuration that is accepted must survive
// being written and read again unchanged.
#include <cstdlib>
#include <string>

#include "examples/cli/config.h"

using namespace minimax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  cli::RunConfig config;
  try {
    config = cli::from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception&) {
    return 0;
  } catch (const cli::UsageError&) {
    return 0;
  }
  nlohmann::json written = cli::to_json(config);
  if (cli::to_json(cli::from_json(nlohmann::json::parse(written.dump()))) != written) std::abort();
  return 0;
}
