// Started as a plain CGI program (fd 0 is a pipe or file, the web server put
// the request in the environment), gatewayd answers that one request on
// stdout and exits, as trac.fcgi does.
#pragma once

#include <vector>

#include "gateway/config.h"

namespace gw {

// True when the environment looks like a CGI request (GATEWAY_INTERFACE set)
// or FCGI_FORCE_CGI=Y asks for CGI mode.
bool cgi_environment_present();

// Serves the request from the environment and stdin. Returns the exit status.
int run_cgi_mode(const ServerConfig& config, const std::vector<ProjectConfig>& projects);

}  // namespace gw
