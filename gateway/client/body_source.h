// Where a request body comes from (-d TEXT, -d @FILE, -d @-), read piece
// by piece on the loop so that a 1 GiB upload never sits in memory: a
// regular file through libuv's file reads, a pipe or socket on standard
// input as a stream that is paused between pieces, text from memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/client/errors.h"
#include "gateway/client/options.h"

struct uv_loop_s;

namespace gw::client {

class BodySource {
 public:
  virtual ~BodySource() = default;

  // Known for text and regular files; nullopt for a pipe.
  std::optional<uint64_t> length() const { return length_; }

  // Reads the next bytes, at most `max` (> 0). Calls back once, never
  // before read() returned: with data (not empty), or with empty data at
  // the end, or with an error. One read at a time; `data` is valid during
  // the callback only.
  using Callback = std::function<void(std::string_view data, std::optional<ClientError> error)>;
  virtual void read(size_t max, Callback done) = 0;

  // Drops a read in flight: its callback never comes.
  virtual void cancel() = 0;

 protected:
  std::optional<uint64_t> length_;
};

// nullptr for BodySpec::Kind::None.
std::variant<std::unique_ptr<BodySource>, ClientError> open_body(uv_loop_s* loop,
                                                                 const BodySpec& spec);

// For --bench, which sends the same body many times: the whole body, read
// at once, at most `max` bytes.
std::optional<ClientError> load_body(const BodySpec& spec, size_t max, std::string& out);

}  // namespace gw::client
