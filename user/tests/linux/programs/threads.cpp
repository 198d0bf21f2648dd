// threads: std::thread, std::mutex and std::condition_variable in an unmodified g++ -static
// program. Four workers wait for a start signal, each hashes (FNV-1a) and sums its quarter of
// stdin, then reports under the mutex; main waits on the condition variable for all four, joins
// them and prints the results in worker order, which makes the output deterministic. Last, a
// wait_for that nobody notifies times out (a futex wait with an absolute timeout).
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

int main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  constexpr int workers = 4;
  std::mutex mutex;
  std::condition_variable changed;
  bool started = false;
  int finished = 0;
  std::uint64_t hashes[workers] = {}, sums[workers] = {};
  std::set<long> tids{syscall(SYS_gettid)};
  std::vector<std::thread> threads;
  for (int worker = 0; worker < workers; ++worker) {
    threads.emplace_back([&, worker] {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return started; });
      }
      std::size_t begin = input.size() * worker / workers, end = input.size() * (worker + 1) / workers;
      std::uint64_t hash = 14695981039346656037ull, sum = 0;
      for (std::size_t i = begin; i < end; ++i) {
        hash = (hash ^ static_cast<unsigned char>(input[i])) * 1099511628211ull;
        sum += static_cast<unsigned char>(input[i]);
        if (i % 64 == 0) std::this_thread::yield();
      }
      std::lock_guard<std::mutex> lock(mutex);
      hashes[worker] = hash;
      sums[worker] = sum;
      tids.insert(syscall(SYS_gettid));
      ++finished;
      changed.notify_all();
    });
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    started = true;
  }
  changed.notify_all();
  {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return finished == workers; });
  }
  for (std::thread& thread : threads) thread.join();
  std::uint64_t total = 0;
  for (int worker = 0; worker < workers; ++worker) {
    std::cout << "part " << worker << " sum " << sums[worker] << " fnv " << std::hex << hashes[worker] << std::dec
              << "\n";
    total += sums[worker];
  }
  std::cout << "total " << total << " bytes " << input.size() << " threads " << tids.size() << "\n";
  std::unique_lock<std::mutex> lock(mutex);
  bool notified = changed.wait_for(lock, std::chrono::milliseconds(20), [&] { return finished > workers; });
  std::cout << "wait_for " << (notified ? "notified" : "timed out") << "\n";
  return 0;
}
