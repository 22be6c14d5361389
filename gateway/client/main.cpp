// gatewayd-client: sends one request over FastCGI, SCGI, AJP13 or HTTP/1.1
// to any address and prints the response (or, with --bench, loads it). See
// --help and options.h.
#include <uv.h>

#include <csignal>
#include <cstdio>

#include "gateway/client/bench.h"
#include "gateway/client/one_request.h"
#include "gateway/client/options.h"
#include "gateway/client/output.h"
#include "gateway/client/resolve.h"
#include "gateway/io/timer.h"

namespace {

using namespace gw::client;

int run(uv_loop_t* loop, const ClientOptions& options, Output& out) {
  gw::io::Address address = options.endpoint.address;
  std::string display;
  if (auto err = resolve(address, display)) {
    out.error(err->what);
    return exit_status(err->failure);
  }
  switch (options.mode) {
    case ClientOptions::Mode::CPing:
      return run_cping(loop, options, address, display, out);
    case ClientOptions::Mode::GetValues:
      return run_get_values(loop, options, address, display, out);
    case ClientOptions::Mode::Bench:
      return run_bench(loop, options, address, display, out);
    case ClientOptions::Mode::Request:
      break;
  }
  return run_one_request(loop, options, address, display, out);
}

}  // namespace

int main(int argc, char** argv) {
  ClientOptions options;
  if (auto err = parse_client_options(argc, argv, options)) {
    std::fprintf(stderr, "gatewayd-client: %s\n", err->message().c_str());
    return kExitUsage;
  }
  if (options.action == ClientOptions::Action::Help) {
    std::fwrite(client_help_text().data(), 1, client_help_text().size(), stdout);
    return kExitOk;
  }
  if (options.action == ClientOptions::Action::Version) {
    std::printf("gatewayd-client %s\n", GATEWAYD_VERSION);
    return kExitOk;
  }
  // A peer that closes while we write must give EPIPE, not kill us; so must
  // a closed stdout (`| head`).
  std::signal(SIGPIPE, SIG_IGN);
  // Large writes of the response body: stdout fully buffered even on a tty
  // would hide progress, so only pipes and files get a big buffer.
  static char buffer[64 * 1024];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);

  uv_loop_t loop;
  uv_loop_init(&loop);
  Output out(options.verbose);
  int status = run(&loop, options, out);
  out.flush();
  gw::io::release_deferred(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);  // the close callbacks of the handles just released
  uv_loop_close(&loop);
  return status;
}
