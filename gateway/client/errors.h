// Why a request failed, and the exit status each reason gives. The numbers
// are curl's where curl has one, so scripts written for curl read them the
// same way. Shared by one-request mode, the probes and --bench.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gw::client {

inline constexpr std::string_view kProgram = "gatewayd-client";

inline constexpr int kExitOk = 0;
inline constexpr int kExitPeer = 1;   // the peer broke the protocol or refused the request
inline constexpr int kExitUsage = 2;  // bad command line
inline constexpr int kExitResolve = 6;
inline constexpr int kExitConnect = 7;
inline constexpr int kExitHttpStatus = 22;  // --fail and a status outside 2xx
inline constexpr int kExitOutput = 23;      // writing the response to stdout failed
inline constexpr int kExitBodyInput = 26;   // reading the request body failed
inline constexpr int kExitTimeout = 28;

enum class Failure : uint8_t {
  Resolve,    // the host name did not resolve
  Connect,    // the connection could not be made (refused, no such socket, ...)
  Timeout,    // nothing moved for --timeout seconds
  Malformed,  // the peer sent something its protocol does not allow
  Closed,     // the peer closed or reset the connection before the response ended
  Refused,    // the peer declined in protocol terms (FastCGI protocolStatus)
  BodyInput,  // the request body could not be read
  Output,     // stdout could not be written
};
inline constexpr size_t kFailureKinds = 8;

struct ClientError {
  Failure failure = Failure::Malformed;
  std::string what;  // one line naming the protocol step, without the program name
};

int exit_status(Failure failure);
// A short stable name for tallies: "connect", "timeout", "malformed", ...
std::string_view failure_name(Failure failure);

}  // namespace gw::client
