// Files a project serves itself besides its backend: static mounts
// ("/chrome/common" -> a directory) and X-Sendfile / X-Accel-Redirect
// answers from the backend.
#pragma once

#include <string>
#include <vector>

namespace gw {

struct StaticMount {
  std::string prefix;  // normalised URL path below the project: "/chrome/common"
  std::string dir;     // absolute directory
  bool operator==(const StaticMount&) const = default;
};

// An X-Accel-Redirect URI prefix and the directory it stands for:
// "/protected" -> "/srv/files" maps "/protected/a.pdf" to "/srv/files/a.pdf".
struct SendfileLocation {
  std::string prefix;  // normalised URL path, neither "" nor "/"
  std::string dir;     // absolute directory
  bool operator==(const SendfileLocation&) const = default;
};

struct SendfileOptions {
  enum class Mode {
    Off,    // the headers are passed to the client as any other
    Serve,  // gatewayd serves the named file from an allowed directory
    Pass,   // handed on to the front end in the form it understands
  };
  // The header forms. X-Sendfile and X-LIGHTTPD-send-file carry a file
  // path, X-Accel-Redirect a URI.
  enum class Form {
    XAccelRedirect,     // nginx (from FastCGI, SCGI, uwsgi and HTTP upstreams)
    XSendfile,          // lighttpd (allow-x-send-file), Apache mod_xsendfile
    XLighttpdSendFile,  // lighttpd's older name
  };
  Mode mode = Mode::Off;
  // Serve: absolute directories files may come from (the directories of
  // `locations` are allowed too).
  std::vector<std::string> dirs;
  // URI prefix -> directory, for X-Accel-Redirect answers (Serve) and for
  // converting between a path and a URI (Pass).
  std::vector<SendfileLocation> locations;
  // Pass: the form the front end understands.
  Form pass_as = Form::XAccelRedirect;
  bool operator==(const SendfileOptions&) const = default;
};

}  // namespace gw
