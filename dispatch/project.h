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
  std::unique_ptr<Backend> backend;
};

}  // namespace gw
