// Internal to the supervised backend: the Exchange it hands out, which waits
// for a ready instance and then forwards to that instance's own backend,
// counting the request in flight on its run.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dispatch/backend.h"
#include "gateway/io/timer.h"
#include "gateway/spawn/spawn_core.h"

namespace gw {

// The Exchange handed to the connection. While no instance is ready it holds
// a copy of the request and the body that arrives; once dispatched it
// forwards both ways, and counts the request in flight on its run until the
// inner backend ends it (or it is cancelled).
class SpawnedExchange final : public Exchange, private ResponseSink {
 public:
  SpawnedExchange(SpawnCore& core, ResponseSink& sink) : core_(&core), sink_(sink) {}
  ~SpawnedExchange() override {
    if (waiting_ && core_) core_->remove_waiting(this);
    inner_.reset();
    release_run();
  }

  void wait(const Request& request, uint32_t timeout_ms) {
    waiting_ = true;
    request_ = request;
    timer_ = std::make_unique<io::Timer>(core_->loop());
    timer_->start(timeout_ms, [this, timeout_ms] {
      SpawnCore* core = core_;
      core->remove_waiting(this);  // clears waiting_
      fail(503, "no app instance became ready within " + std::to_string(timeout_ms) + " ms");
    });
  }
  bool is_waiting() const { return waiting_; }
  const Request& held_request() const { return *request_; }
  void set_waiting(bool w) {
    waiting_ = w;
    if (!w) timer_.reset();
  }
  // Leaves the queue with an error for the client (no inner exchange yet).
  void fail(int status, const std::string& why) {
    waiting_ = false;
    request_.reset();
    timer_.reset();
    if (finished_) return;
    finished_ = true;
    sink_.on_error(status, why);
  }

  // Hands the request to `run`'s backend (counted in flight there first:
  // the inner start may end it at once).
  void dispatch(const std::shared_ptr<Run>& run, const Request& request) {
    run_ = run;
    counted_ = true;
    inner_ = run_->backend->start(request, *this);
    request_.reset();
    if (!held_body_.empty()) {
      std::string body = std::move(held_body_);
      held_body_.clear();
      inner_->send_body(body);
    }
    if (body_finished_) inner_->finish_body();
    if (owe_drained_ && !inner_->body_congested() && !finished_) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

  void send_body(std::string_view data) override {
    if (inner_) {
      inner_->send_body(data);
      return;
    }
    if (finished_) return;
    // Held until dispatch; body_congested() asks the connection to stop
    // reading meanwhile, so this stays about one read's worth.
    held_body_.append(data);
    owe_drained_ = true;
  }
  void finish_body() override {
    if (inner_) {
      inner_->finish_body();
      return;
    }
    body_finished_ = true;
  }
  bool body_congested() const override {
    if (inner_) return inner_->body_congested();
    return !finished_ && !held_body_.empty();
  }
  void resume_response() override {
    if (inner_) inner_->resume_response();
  }
  void cancel() override {
    finished_ = true;
    if (waiting_ && core_) core_->remove_waiting(this);
    timer_.reset();
    if (inner_) inner_->cancel();
    release_run();
  }

 private:
  // ResponseSink, for the inner backend.
  void on_head(ResponseHead head) override {
    if (run_) ++run_->served;
    sink_.on_head(std::move(head));
  }
  void on_body(std::string_view data) override { sink_.on_body(data); }
  void on_end() override {
    finished_ = true;
    release_run();
    sink_.on_end();
  }
  void on_error(int status, std::string_view why) override {
    finished_ = true;
    release_run();
    sink_.on_error(status, why);
  }
  bool congested() const override { return sink_.congested(); }
  void on_body_drained() override { sink_.on_body_drained(); }
  void log_error(std::string_view message) override { sink_.log_error(message); }

  void release_run() {
    if (!counted_) return;
    counted_ = false;
    --run_->in_flight;
    if (run_->core) run_->core->on_request_done(*run_);
  }

  SpawnCore* core_;  // used while waiting; the core fails every waiter before it goes
  ResponseSink& sink_;
  std::optional<Request> request_;  // while waiting
  std::unique_ptr<io::Timer> timer_;
  std::string held_body_;
  std::shared_ptr<Run> run_;
  std::unique_ptr<Exchange> inner_;
  bool waiting_ = false;
  bool counted_ = false;
  bool finished_ = false;  // the sink got its end or error, or we were cancelled
  bool body_finished_ = false;
  bool owe_drained_ = false;
};

}  // namespace gw
