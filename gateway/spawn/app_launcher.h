// gatewayd started by itself as the launcher of an app process.
#pragma once

namespace gw {

// When argv asks for launcher mode, prepares the process and execs the app
// (returning only with an exit status on failure); otherwise returns -1.
int run_app_launcher_if_asked(int argc, char** argv);

}  // namespace gw
