// Exit statuses and tally names of the client's failure kinds.
#include "gateway/client/errors.h"

namespace gw::client {

int exit_status(Failure failure) {
  switch (failure) {
    case Failure::Resolve:
      return kExitResolve;
    case Failure::Connect:
      return kExitConnect;
    case Failure::Timeout:
      return kExitTimeout;
    case Failure::BodyInput:
      return kExitBodyInput;
    case Failure::Output:
      return kExitOutput;
    case Failure::Malformed:
    case Failure::Closed:
    case Failure::Refused:
      break;
  }
  return kExitPeer;
}

std::string_view failure_name(Failure failure) {
  switch (failure) {
    case Failure::Resolve:
      return "resolve";
    case Failure::Connect:
      return "connect";
    case Failure::Timeout:
      return "timeout";
    case Failure::Malformed:
      return "malformed";
    case Failure::Closed:
      return "closed";
    case Failure::Refused:
      return "refused";
    case Failure::BodyInput:
      return "body input";
    case Failure::Output:
      return "output";
  }
  return "unknown";
}

}  // namespace gw::client
