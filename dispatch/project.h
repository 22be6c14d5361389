// A project: a directory with a project.json, served by one backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dispatch/backend.h"

namespace gw {

struct Project {
  std::string name;         // URL segment in parent-directory mode; directory basename
  std::string description;  // shown on the index page
  std::string dir;          // absolute path of the project directory
  // Shared with every request that started on it: a project retired by a
  // reload keeps its backend until its last request is gone. The deleter
  // shuts the backend down before destroying it.
  std::shared_ptr<Backend> backend;
};

// Takes ownership of `backend`; its last owner calls shutdown() then
// deletes it.
inline std::shared_ptr<Backend> share_backend(std::unique_ptr<Backend> backend) {
  return std::shared_ptr<Backend>(backend.release(), [](Backend* b) {
    b->shutdown();
    delete b;
  });
}

}  // namespace gw
