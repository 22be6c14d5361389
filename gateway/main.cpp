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
#include "gateway/io/timer.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/observability.h"
#include "gateway/server.h"
#include "gateway/spawn/app_launcher.h"
#include "gateway/startup.h"

namespace {

const char* lookup_env(const char* name) {
  return std::getenv(name);
}

int fail_config(const gw::ConfigError& e) {
  std::fprintf(stderr, "gatewayd: %s\n", e.message().c_str());
  return 2;
}

struct SignalWatch {
  uv_signal_t handle;
  gw::Server* server;
};

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto* w = static_cast<SignalWatch*>(handle->data);
  gw::log::info(std::string("received ") + strsignal(signum) + ", stopping");
  w->server->stop();
}

void on_reload_signal(uv_signal_t* handle, int) {
  auto* w = static_cast<SignalWatch*>(handle->data);
  gw::log::info("received SIGHUP, reloading the projects");
  w->server->reload();  // logs what it did, or why it kept the running set
}

// Serves until SIGTERM, SIGINT or SIGQUIT stops the server and the loop runs
// dry; SIGHUP reloads the projects meanwhile.
void run_until_stopped(uv_loop_t& loop, gw::Server& server) {
  SignalWatch watches[4];
  const int signals[4] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
  for (int i = 0; i < 4; ++i) {
    uv_signal_init(&loop, &watches[i].handle);
    watches[i].handle.data = &watches[i];
    watches[i].server = &server;
    uv_signal_start(&watches[i].handle, signals[i] == SIGHUP ? on_reload_signal : on_stop_signal,
                    signals[i]);
    // Signal watchers alone must not keep the loop running after stop().
    uv_unref(reinterpret_cast<uv_handle_t*>(&watches[i].handle));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  for (auto& w : watches) uv_close(reinterpret_cast<uv_handle_t*>(&w.handle), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
}

}  // namespace

int main(int argc, char** argv) {
  if (int status = gw::run_app_launcher_if_asked(argc, argv); status >= 0) return status;
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  gw::Startup startup;
  if (auto err = gw::load_startup(args, lookup_env, startup)) return fail_config(*err);
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
  std::optional<gw::IndexTemplate>& index_template = startup.index_template;
  const bool cgi_mode = startup.cgi_mode;
  if (config.check_only) {
    std::printf("gatewayd: configuration OK (%zu project%s, %zu listener%s)\n", projects.size(),
                projects.size() == 1 ? "" : "s", config.listeners.size(),
                config.listeners.size() == 1 ? "" : "s");
    return 0;
  }
  if (!config.error_log.empty()) {
    if (std::string e = gw::log::open_file(config.error_log); !e.empty()) {
      std::fprintf(stderr, "gatewayd: --error-log: %s\n", e.c_str());
      return 2;
    }
  }
  if (cgi_mode) return gw::run_cgi_mode(config, projects);

  // Detached before the loop exists (a loop does not survive fork), but the
  // starter waits until the listeners are bound and hears of any failure.
  if (config.daemonize && !gw::detach_from_terminal()) {
    std::fprintf(stderr, "gatewayd: cannot daemonize: %s\n", std::strerror(errno));
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  loop.data = nullptr;  // io::defer keeps its state here
  int status = 0;
  {
    gw::Server server(&loop, config, projects, std::move(index_template));
    std::string failure;
    auto observability = gw::Observability::attach(server, config, projects, failure);
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
      run_until_stopped(loop, server);
    }
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
