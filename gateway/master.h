// --workers N: a small master process that owns the listening sockets and
// runs N worker processes, each the ordinary single-process server on
// copies of those sockets (the kernel spreads the connections).
//
// The master opens every socket itself (or takes systemd's), writes the pid
// file, then forks the workers; it never serves a request. It keeps its
// privileges (it must be able to bind new ports and create unix sockets on
// a reload); each worker drops them to --user/--group after it started, as
// the single-process server does. Spawned app processes (project.json
// "spawn") belong to each worker: N workers run N sets of them.
//
// Signals to the master: SIGQUIT and SIGTERM stop gracefully (forwarded;
// the master waits for the workers up to graceful_timeout_ms plus a margin,
// then kills what is left), SIGINT stops at once, SIGUSR1 reopens the logs
// (the master's and, forwarded, each worker's). SIGHUP reads the
// configuration again (a broken one is logged and refused), opens sockets
// for new listeners and replaces the workers one at a time: a new worker
// is started, and only once it says it is ready is the old one sent
// SIGQUIT to finish its requests. If the first new worker fails before it
// is ready, the reload is abandoned and the old workers keep serving. A
// worker that dies is started again, after a delay that grows while it
// keeps dying young.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/startup.h"

namespace gw {

// Serves in a worker: the single-process server on `startup`, whose
// listeners all have inherited_fd set. Must call systemd::notify("READY=1")
// once it accepts (it reaches the master over a pipe). Returns the exit
// status.
using WorkerMain = std::function<int(Startup& startup)>;

// Runs the master until it stops; returns its exit status. `args` and `env`
// are what load_startup read `startup` from (a SIGHUP reads them again).
// In a worker it does not return: the worker exits with serve's status.
// Call after daemonizing (the master tells the starter, once the workers
// are ready) and after opening the error log.
int run_master(std::vector<std::string> args, EnvLookup env, Startup startup, WorkerMain serve);

// In a worker: its master's pid (a SIGHUP for a worker is the master's to
// handle: the worker logs so and ignores it). 0 in any other process.
pid_t master_of_this_worker();

}  // namespace gw
