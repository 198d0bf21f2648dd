// Command line: mettctl's options and verbs (CLI11), dispatched to the commands. Invariant: every
// path through run_cli ends in one of the documented exit codes (result.hpp), and no exception
// escapes it.
#pragma once

#include <string>
#include <vector>

#include "commands/commands.hpp"

namespace mettctl {

// arguments excludes the program name. Reads METTCTL_GATEWAY and METTCTL_KEY from the environment.
[[nodiscard]] int run_cli(std::vector<std::string> const& arguments, Io& io);

}  // namespace mettctl
