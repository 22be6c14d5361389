#include "gateway/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gw {

namespace {

int g_ready_fd = -1;  // write end of the pipe the starter waits on
// A process forked from the detached one, whose starter hears from its
// parent: detach_done only points its stdio at /dev/null.
bool g_forgotten = false;

// The original process: wait for the detached one's verdict and exit with it.
[[noreturn]] void wait_for_verdict(int read_fd, pid_t child) {
  std::string message;
  char buf[512];
  for (;;) {
    ssize_t n = read(read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  waitpid(child, nullptr, 0);  // the intermediate process, exited at once
  // "OK" means serving; anything else (or nothing: the daemon died before
  // saying) is a failure already logged by the daemon on our stderr.
  if (message == "OK") _exit(0);
  if (message.empty()) std::fprintf(stderr, "gatewayd: the daemon exited during startup\n");
  _exit(1);
}

}  // namespace

bool detach_from_terminal() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid > 0) {
    close(fds[1]);
    wait_for_verdict(fds[0], pid);
  }
  close(fds[0]);
  setsid();
  pid = fork();  // not a session leader: can never acquire a terminal
  if (pid < 0) _exit(1);
  if (pid > 0) _exit(0);
  g_ready_fd = fds[1];
  return true;
}

void detach_done(const std::string& failure) {
  if (g_ready_fd < 0 && !g_forgotten) return;
  if (g_ready_fd >= 0) {
    const char* verdict = failure.empty() ? "OK" : "FAILED";
    ssize_t ignored = write(g_ready_fd, verdict, std::strlen(verdict));
    (void)ignored;
    close(g_ready_fd);
    g_ready_fd = -1;
  }
  g_forgotten = false;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
}

void detach_forget() {
  if (g_ready_fd < 0) return;
  close(g_ready_fd);
  g_ready_fd = -1;
  g_forgotten = true;
}

std::string write_pidfile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "we");
  if (!f) return "--pidfile " + path + ": " + std::strerror(errno);
  std::fprintf(f, "%d\n", static_cast<int>(getpid()));
  if (std::fclose(f) != 0) return "--pidfile " + path + ": " + std::strerror(errno);
  return "";
}

std::string drop_privileges(const std::string& user, const std::string& group) {
  if (!group.empty()) {
    struct group* gr = getgrnam(group.c_str());
    gid_t gid = gr ? gr->gr_gid : static_cast<gid_t>(std::strtoul(group.c_str(), nullptr, 10));
    if (!gr && group.find_first_not_of("0123456789") != std::string::npos)
      return "--group: no such group: " + group;
    if (setgroups(0, nullptr) != 0 && geteuid() == 0)
      return std::string("setgroups: ") + std::strerror(errno);
    if (setgid(gid) != 0) return std::string("setgid: ") + std::strerror(errno);
  }
  if (!user.empty()) {
    struct passwd* pw = getpwnam(user.c_str());
    if (!pw && user.find_first_not_of("0123456789") != std::string::npos)
      return "--user: no such user: " + user;
    uid_t uid = pw ? pw->pw_uid : static_cast<uid_t>(std::strtoul(user.c_str(), nullptr, 10));
    if (group.empty() && pw && setgid(pw->pw_gid) != 0)
      return std::string("setgid: ") + std::strerror(errno);
    if (setuid(uid) != 0) return std::string("setuid: ") + std::strerror(errno);
  }
  return "";
}

}  // namespace gw
