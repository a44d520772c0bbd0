// ChildProcess: a binary under test run as a real process (fork + exec), with stdout and
// stderr in files of its own temporary directory and CIVICPULSE_BROKERS unset, so that only
// the flags given count. Killed (SIGKILL) and reaped on destruction if still running.
//
// For integration tests. Not thread-safe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace civicpulse::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ChildProcess {
 public:
  ChildProcess(const std::string& binary, std::vector<std::string> args) {
    char dir[] = "/tmp/civicpulse-child.XXXXXX";
    dir_ = mkdtemp(dir);
    out_ = dir_ + "/stdout";
    err_ = dir_ + "/stderr";
    args.insert(args.begin(), binary);
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      unsetenv("CIVICPULSE_BROKERS");
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    std::remove(out_.c_str());
    std::remove(err_.c_str());
    rmdir(dir_.c_str());
  }

  // Blocks until the process ends: its exit code, or 128 + the signal that ended it.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // False once the process has ended (reaps it without blocking).
  bool Running() {
    int status;
    if (!exited_ && waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }
  void Signal(int sig) { kill(pid_, sig); }
  std::string out() const { return ReadFile(out_); }
  std::string err() const { return ReadFile(err_); }

 private:
  std::string dir_, out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

}  // namespace civicpulse::testing
