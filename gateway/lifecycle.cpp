#include "gateway/lifecycle.h"

#include <time.h>

#include <cstdio>

#include "gateway/log.h"
#include "gateway/observability.h"
#include "gateway/server.h"
#include "gateway/systemd.h"

namespace gw {

namespace {

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

std::string octal(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03o", v);
  return buf;
}

void differs(std::vector<std::string>& out, const char* what, const std::string& running,
             const std::string& next) {
  if (running == next) return;
  out.push_back(std::string(what) + ": needs a restart (running: " + running + ", new: " + next +
                ")");
}

// systemd (Type=notify-reload) wants the monotonic time with RELOADING=1.
std::string reloading_state() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace

std::vector<std::string> restart_only_changes(const ServerConfig& running,
                                              const ServerConfig& next) {
  std::vector<std::string> out;
  differs(out, "user", quoted(running.user), quoted(next.user));
  differs(out, "group", quoted(running.group), quoted(next.group));
  differs(out, "daemonize", running.daemonize ? "yes" : "no", next.daemonize ? "yes" : "no");
  differs(out, "pidfile", quoted(running.pidfile), quoted(next.pidfile));
  differs(out, "workers", std::to_string(running.workers), std::to_string(next.workers));
  if (running.umask != next.umask) {
    out.push_back(
        "umask: needs a restart for the sockets already open (running: " + octal(running.umask) +
        ", new: " + octal(next.umask) + "); sockets opened by this reload use the new one");
  }
  return out;
}

Lifecycle::Lifecycle(Server& server, Observability* observability, std::vector<std::string> args,
                     EnvLookup env, const ServerConfig& started)
    : server_(server),
      observability_(observability),
      args_(std::move(args)),
      env_(env),
      started_(started) {}

std::optional<std::string> Lifecycle::reload() {
  if (server_.stopping()) {
    log::info("reload: ignored, the server is stopping");
    return "the server is stopping";
  }
  systemd::notify(reloading_state());
  auto fail = [](std::string why) -> std::optional<std::string> {
    log::error("reload failed, keeping the running configuration: " + why);
    systemd::notify("READY=1");
    return why;
  };
  Startup next;
  // The same words as a failed start and --check-config.
  if (auto err = load_startup(args_, env_, next)) return fail(err->message());
  if (next.cgi_mode) return fail("no listener is configured");
  if (prepare_) {
    if (auto err = prepare_(next)) return fail(*err);
  }
  const std::string error_log = next.config.error_log;
  const std::string log_level = next.config.log_level;
  std::optional<log::Level> level = log::parse_level(log_level);
  if (!level)
    return fail("--log-level: '" + log_level + "' is not one of debug, info, warn, error");
  for (const std::string& line : restart_only_changes(started_, next.config)) log::warn(line);

  // The restart-only settings keep their running values, so that the next
  // reload reports them again rather than taking them as applied.
  next.config.user = started_.user;
  next.config.group = started_.group;
  next.config.daemonize = started_.daemonize;
  next.config.pidfile = started_.pidfile;
  next.config.workers = started_.workers;
  const ServerConfig kept_for_logs = next.config;
  const std::string running_error_log = server_.config().error_log;
  if (auto err = server_.reload(std::move(next))) return fail(*err);

  log::set_level(*level);
  if (error_log != running_error_log) {
    if (std::string e = log::open_file(error_log); !e.empty()) {
      log::error("reload: --error-log: " + e + "; logging where it went before");
    } else {
      log::info("reload: error log now " + (error_log.empty() ? "stderr" : error_log));
    }
  }
  if (observability_) {
    if (auto err = observability_->reconfigure(kept_for_logs, server_.project_configs())) {
      log::error("reload: access logs: " + *err + "; keeping the running ones");
    }
  }
  log::info("reload: done");
  systemd::notify("READY=1");
  return std::nullopt;
}

void Lifecycle::stop_gracefully() {
  systemd::notify("STOPPING=1");
  server_.stop_gracefully(server_.config().graceful_timeout_ms);
}

void Lifecycle::stop_now() {
  systemd::notify("STOPPING=1");
  server_.stop();
}

void Lifecycle::reopen_logs() {
  if (std::string e = log::reopen(); !e.empty()) {
    log::error("SIGUSR1: reopening the error log: " + e + "; logging to the old file");
  } else {
    log::info("SIGUSR1: log files reopened");
  }
  if (observability_) observability_->reopen_logs();
}

}  // namespace gw
