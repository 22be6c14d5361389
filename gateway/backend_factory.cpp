#include "gateway/backend_factory.h"

#include <uv.h>

#include "dispatch/auth/auth_backend.h"
#include "dispatch/backends/body_buffer.h"
#include "dispatch/backends/cgi_backend.h"
#include "dispatch/backends/echo.h"
#include "dispatch/backends/fastcgi_backend.h"
#include "dispatch/backends/http_proxy.h"
#include "dispatch/backends/scgi_backend.h"
#include "dispatch/backends/sendfile.h"
#include "dispatch/backends/static_files.h"
#include "dispatch/backends/static_mounts.h"
#include "gateway/spawn/spawned_backend.h"

namespace gw {

std::unique_ptr<Backend> make_app_backend(uv_loop_t* loop, const std::string& project_name,
                                          const BackendConfig& b) {
  if (b.type == "static") return std::make_unique<StaticBackend>(b.root, b.index);
  if (b.type == "http") {
    HttpProxyOptions options;
    options.upstream = b.upstream;
    options.connect_timeout_ms = b.connect_timeout_ms;
    options.timeout_ms = b.timeout_ms;
    options.keepalive = b.keepalive;
    return std::make_unique<HttpProxyBackend>(loop, std::move(options));
  }
  if (b.type == "fastcgi") {
    FastCgiBackendOptions options;
    options.upstream = b.upstream;
    options.connect_timeout_ms = b.connect_timeout_ms;
    options.timeout_ms = b.timeout_ms;
    options.keepalive = b.keepalive;
    options.max_conns = b.max_conns;
    options.document_root = b.document_root;
    options.script_filename = b.script_filename;
    options.params = b.params;
    return std::make_unique<FastCgiBackend>(loop, std::move(options));
  }
  if (b.type == "scgi") {
    ScgiBackendOptions options;
    options.upstream = b.upstream;
    options.connect_timeout_ms = b.connect_timeout_ms;
    options.timeout_ms = b.timeout_ms;
    options.params = b.params;
    return std::make_unique<ScgiBackend>(loop, std::move(options));
  }
  if (b.type == "cgi") {
    CgiBackendOptions options;
    options.script = b.script;
    options.timeout_ms = b.timeout_ms;
    options.env = b.env;
    options.max_processes = b.max_processes;
    return std::make_unique<CgiBackend>(loop, std::move(options));
  }
  return std::make_unique<EchoBackend>(project_name);
}

std::unique_ptr<Backend> make_project_backend(uv_loop_t* loop, const ProjectConfig& project) {
  std::unique_ptr<Backend> backend;
  if (project.spawn) {
    backend = make_spawned_backend(loop, project,
                                   [loop, name = project.name](const BackendConfig& instance) {
                                     return make_app_backend(loop, name, instance);
                                   });
  } else {
    backend = make_app_backend(loop, project.name, project.backend);
  }
  // Around the app alone: static mounts, X-Sendfile answers and a refused
  // login never wait for a body.
  if (project.buffer_body) backend = wrap_body_buffer(std::move(backend), *project.buffer_body);
  if (project.sendfile.mode != SendfileOptions::Mode::Off) {
    backend = wrap_sendfile(std::move(backend), project.sendfile);
  }
  if (!project.mounts.empty()) backend = wrap_static_mounts(std::move(backend), project.mounts);
  if (project.auth) backend = wrap_auth(std::move(backend), *project.auth, loop);
  return backend;
}

}  // namespace gw
