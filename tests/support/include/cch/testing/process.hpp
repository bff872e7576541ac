#pragma once
// Runs a program of this project as a child process, for whole-process tests: its standard
// output and error go to files the test reads; the test can signal it and wait with a bound.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace cch::testing {

class ChildProcess {
 public:
  // Starts `program` with `arguments`; `environment` entries are added to (or replace) this
  // process's environment. Throws std::runtime_error if it cannot start.
  ChildProcess(const std::string& program, const std::vector<std::string>& arguments,
               const std::map<std::string, std::string>& environment = {});
  ~ChildProcess();  // kills (SIGKILL) and reaps it if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The exit status once it exits within `timeout` (128 + signal if killed by one), else nullopt.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  void send_signal(int signal_number);
  [[nodiscard]] bool running();

  [[nodiscard]] std::string standard_output() const;
  [[nodiscard]] std::string standard_error() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string directory_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
unsigned short free_tcp_port();

// Writes `text` to a new file in a fresh temporary directory and returns its path.
std::string write_temporary_file(const std::string& name, const std::string& text);

// A fresh temporary directory, removed by the caller if it likes.
std::string make_temporary_directory();

}  // namespace cch::testing
