// words: a static glibc + libstdc++ program for the Linux personality tests. Reads words from
// std::cin, sorts them, counts duplicates in a std::map and prints them with iostreams; throws
// and catches an exception on the way. An input starting with the word "throw" ends in an uncaught
// exception (std::terminate, abort, SIGABRT).
#include <algorithm>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

static int checked(int value) {
  if (value < 0) throw std::runtime_error("negative");
  return value;
}

int main() {
  std::vector<std::string> words;
  std::string word;
  while (std::cin >> word) words.push_back(word);
  if (!words.empty() && words.front() == "throw") throw std::logic_error("uncaught on purpose");
  std::sort(words.begin(), words.end());
  std::map<std::string, int> counts;
  for (const auto& each : words) ++counts[each];
  for (const auto& [text, count] : counts) std::cout << text << '=' << count << '\n';
  try {
    checked(-1);
  } catch (const std::exception& error) {
    std::cout << "caught " << error.what() << '\n';
  }
  std::cout << "total " << words.size() << std::endl;
  return 0;
}
