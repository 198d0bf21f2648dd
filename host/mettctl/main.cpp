// mettctl: the host command-line client of the MettEagle gateway (docs/METTCTL.md).
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> arguments(argv + 1, argv + argc);
  mettctl::Io io{std::cin, std::cout, std::cerr, isatty(STDIN_FILENO) == 1};
  int exit_code = mettctl::run_cli(arguments, io);
  std::cout.flush();
  return exit_code;
}
