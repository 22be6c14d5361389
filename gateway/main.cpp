// gatewayd: one libuv loop serving FastCGI and HTTP front ends, routing
// each request to a project's backend. See README.md for the command line.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "dispatch/index_template.h"
#include "gateway/cgi_mode.h"
#include "gateway/config.h"
#include "gateway/daemon.h"
#include "gateway/fd_limit.h"
#include "gateway/io/timer.h"
#include "gateway/lifecycle.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/master.h"
#include "gateway/observability.h"
#include "gateway/server.h"
#include "gateway/signals.h"
#include "gateway/socket_access.h"
#include "gateway/socket_activation.h"
#include "gateway/spawn/app_launcher.h"
#include "gateway/startup.h"
#include "gateway/systemd.h"

namespace {

const char* lookup_env(const char* name) {
  return std::getenv(name);
}

int fail_config(const gw::ConfigError& e) {
  std::fprintf(stderr, "gatewayd: %s\n", e.message().c_str());
  return 2;
}

// The single-process daemon: one loop and one Server, serving until a
// signal stops it. `args` (argv without argv[0]) are kept for SIGHUP, which
// reads everything again from them. Returns the exit status.
int run_single(gw::Startup& startup, const std::vector<std::string>& args) {
  gw::ServerConfig& config = startup.config;
  uv_loop_t loop;
  uv_loop_init(&loop);
  loop.data = nullptr;  // io::defer keeps its state here
  int status = 0;
  {
    gw::Server server(&loop, config, startup.projects, std::move(startup.index_template));
    std::string failure;
    auto observability = gw::Observability::attach(server, config, startup.projects, failure);
    if (failure.empty()) {
      if (auto err = server.start()) failure = *err;
    }
    if (failure.empty() && !config.pidfile.empty()) failure = gw::write_pidfile(config.pidfile);
    if (failure.empty()) failure = gw::drop_privileges(config.user, config.group);
    if (!failure.empty()) {
      // Logged once: to the error log, which is stderr unless --error-log.
      gw::log::error(failure);
      if (!config.error_log.empty()) std::fprintf(stderr, "gatewayd: %s\n", failure.c_str());
      gw::detach_done(failure);
      server.stop();
      status = 1;
    } else {
      gw::detach_done("");
      gw::systemd::notify("READY=1\nMAINPID=" + std::to_string(getpid()));
      gw::Lifecycle lifecycle(server, observability.get(), args, lookup_env, config);
      // A reload matches systemd's sockets to the listeners again, as at start.
      lifecycle.set_prepare([](gw::Startup& next) -> std::optional<std::string> {
        if (auto err = gw::apply_passed_sockets(next)) return err->message();
        return std::nullopt;
      });
      gw::SignalWatchers signals(&loop);
      signals.watch(SIGHUP, [&] {
        if (pid_t master = gw::master_of_this_worker()) {
          gw::log::warn(
              "received SIGHUP: a worker does not reload itself; send it to the "
              "master, pid " +
              std::to_string(master));
          return;
        }
        gw::log::info("received SIGHUP: reloading the configuration and the projects");
        // Logs what it did, or why it kept the running configuration; tells
        // systemd RELOADING=1, then READY=1.
        lifecycle.reload();
      });
      signals.watch(SIGQUIT, [&] {
        gw::log::info("received SIGQUIT: stopping gracefully");
        lifecycle.stop_gracefully();  // tells systemd STOPPING=1
      });
      signals.watch(SIGTERM, [&] {
        gw::log::info("received SIGTERM: stopping gracefully");
        lifecycle.stop_gracefully();
      });
      signals.watch(SIGINT, [&] {
        gw::log::info("received SIGINT: stopping now");
        lifecycle.stop_now();
      });
      signals.watch(SIGUSR1, [&] {
        gw::log::info("received SIGUSR1: reopening the log files");
        lifecycle.reopen_logs();
      });
      // Returns once the server has stopped and its work has run dry (the
      // watchers do not hold the loop).
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  gw::io::release_deferred(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (status == 0) {
    // Best effort: after dropping privileges the directory may not let us.
    if (!config.pidfile.empty()) unlink(config.pidfile.c_str());
    gw::log::info("stopped");
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (int status = gw::run_app_launcher_if_asked(argc, argv); status >= 0) return status;
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  gw::Startup startup;
  if (auto err = gw::load_startup_activated(args, lookup_env, startup)) return fail_config(*err);
  if (startup.cli.action == gw::CliResult::Action::Help) {
    std::fputs(gw::help_text().c_str(), stdout);
    return 0;
  }
  if (startup.cli.action == gw::CliResult::Action::Version) {
    std::printf("gatewayd %s\n", GATEWAYD_VERSION);
    return 0;
  }
  gw::ServerConfig& config = startup.config;
  std::vector<gw::ProjectConfig>& projects = startup.projects;
  const bool cgi_mode = startup.cgi_mode;
  if (config.check_only) {
    for (const std::string& w : gw::predicted_socket_access_warnings(config)) {
      std::fprintf(stderr, "gatewayd: warning: %s\n", w.c_str());
    }
    std::printf("gatewayd: configuration OK (%zu project%s, %zu listener%s)\n", projects.size(),
                projects.size() == 1 ? "" : "s", config.listeners.size(),
                config.listeners.size() == 1 ? "" : "s");
    return 0;
  }
  if (auto level = gw::log::parse_level(config.log_level)) gw::log::set_level(*level);
  if (!config.error_log.empty()) {
    if (std::string e = gw::log::open_file(config.error_log); !e.empty()) {
      std::fprintf(stderr, "gatewayd: --error-log: %s\n", e.c_str());
      return 2;
    }
  }
  if (cgi_mode) return gw::run_cgi_mode(config, projects);
  if (auto warning = gw::raise_fd_limit(config.limits.max_connections)) gw::log::warn(*warning);

  // Detached before the loop exists (a loop does not survive fork), but the
  // starter waits until the listeners are bound and hears of any failure.
  if (config.daemonize && !gw::detach_from_terminal()) {
    std::fprintf(stderr, "gatewayd: cannot daemonize: %s\n", std::strerror(errno));
    return 1;
  }

  if (config.workers > 1) {
    // Each worker runs the single-process server on the master's sockets.
    return gw::run_master(args, lookup_env, std::move(startup),
                          [&args](gw::Startup& s) { return run_single(s, args); });
  }
  return run_single(startup, args);
}
