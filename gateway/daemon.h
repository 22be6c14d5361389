// Starting as a daemon: detaching from the terminal in a way that lets the
// starting shell (an init script, a Cherokee "interpreter" source, a
// deployment guide's one-liner) learn whether the daemon came up, and the
// pid file and privilege drop that go with it.
#pragma once

#include <string>

namespace gw {

// Forks twice and starts a new session. Returns in the detached process only,
// with stdio still open so that startup errors reach the terminal. The
// original process waits until that process calls detach_done(): it prints
// the failure, if any, and exits 0 (serving) or 1. Returns false (errno set)
// when a fork or pipe fails.
bool detach_from_terminal();

// Tells the waiting starter the outcome ("" = serving) and points stdio at
// /dev/null. A no-op when not detached.
void detach_done(const std::string& failure);

// In a process forked from the detached one (a worker of --workers): lets
// go of the starter's pipe, whose verdict stays the parent's. Its own
// detach_done then only points stdio at /dev/null (so its startup errors
// still reach the terminal). A no-op when not detached.
void detach_forget();

// Writes our pid to `path` (created 0644). Returns why it cannot.
std::string write_pidfile(const std::string& path);

// After binding: give up root for the configured user and group. Returns
// why it cannot ("" on success or when neither is set).
std::string drop_privileges(const std::string& user, const std::string& group);

}  // namespace gw
