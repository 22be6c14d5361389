// The command-line conventions of Python's optparse, which tracd uses and so
// gatewayd and gatewayd-client follow: "--opt=value" or "--opt value",
// "-p8000" or "-p 8000", clustered short flags ("-sd"), unambiguous
// prefixes of long options ("--daemon"), and "--" ending the options.
//
// One difference from optparse: a value option followed by something that
// looks like another option ("--pidfile --daemonize") is a forgotten value,
// not the value; "--opt=-value" still passes one.
//
// scan() only splits argv; what an option means is the caller's. A Spec is
// any type with `char short_name` (0: none), `std::string_view long_name`
// and `bool takes_value`; an Error is any aggregate {flag, why} of strings.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw::optparse {

template <typename Spec>
const Spec* find_short(std::span<const Spec> specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name == c) return &s;
  }
  return nullptr;
}

// Exact long name, else the one option the prefix abbreviates. `candidates`
// lists them ("--port, --protocol") when there are several.
template <typename Spec>
const Spec* find_long(std::span<const Spec> specs, std::string_view name, std::string& candidates) {
  const Spec* found = nullptr;
  int matches = 0;
  for (const auto& s : specs) {
    if (s.long_name == name) return &s;
    if (!name.empty() && s.long_name.starts_with(name)) {
      found = &s;
      candidates += (matches++ ? ", --" : "--") + std::string(s.long_name);
    }
  }
  return matches == 1 ? found : nullptr;
}

// Walks argv[1..]: on_option(spec, flag, value) for each option (value ""
// for one without a value; flag as spelt: "-p", "--port"), on_positional(arg)
// for every other argument ("-" alone is positional). Returns the first
// error, its own or one from on_option. Stops early once `stop` is set (by
// on_option: --help, --version).
template <typename Error, typename Spec, typename OnOption, typename OnPositional>
std::optional<Error> scan(int argc, const char* const* argv, std::span<const Spec> specs,
                          OnOption on_option, OnPositional on_positional, const bool& stop) {
  auto next_value = [&](const std::string& flag, int& i,
                        std::string& value) -> std::optional<Error> {
    if (i + 1 >= argc || !argv[i + 1]) return Error{flag, "needs a value"};
    std::string_view next = argv[i + 1];
    if (next.size() > 1 && next[0] == '-') return Error{flag, "needs a value"};
    value = next;
    ++i;
    return std::nullopt;
  };
  auto parse_long = [&](std::string_view arg, int& i) -> std::optional<Error> {
    size_t eq = arg.find('=');
    std::string flag(arg.substr(0, eq));
    std::string candidates;
    const Spec* spec = find_long(specs, std::string_view(flag).substr(2), candidates);
    if (!spec && !candidates.empty()) {
      return Error{flag, "ambiguous option (could be " + candidates + ")"};
    }
    if (!spec) return Error{flag, "unknown option (see --help)"};
    if (!spec->takes_value) {
      if (eq != std::string_view::npos) return Error{flag, "takes no value"};
      return on_option(*spec, flag, std::string());
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (auto err = next_value(flag, i, value)) {
      return err;
    }
    return on_option(*spec, flag, value);
  };
  auto parse_short = [&](std::string_view arg, int& i) -> std::optional<Error> {
    for (size_t k = 1; k < arg.size() && !stop; ++k) {
      std::string flag = std::string("-") + arg[k];
      const Spec* spec = find_short(specs, arg[k]);
      if (!spec) return Error{flag, "unknown option (see --help)"};
      if (!spec->takes_value) {
        if (auto err = on_option(*spec, flag, std::string())) return err;
        continue;
      }
      // A value option ends the cluster: the rest is its value ("-p8000").
      std::string value(arg.substr(k + 1));
      if (value.empty()) {
        if (auto err = next_value(flag, i, value)) return err;
      }
      return on_option(*spec, flag, value);
    }
    return std::nullopt;
  };

  bool options_done = false;
  for (int i = 1; i < argc && !stop; ++i) {
    std::string_view arg = argv[i] ? argv[i] : "";
    std::optional<Error> err;
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      on_positional(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg[1] == '-') {
      err = parse_long(arg, i);
    } else {
      err = parse_short(arg, i);
    }
    if (err) return err;
  }
  return std::nullopt;
}

}  // namespace gw::optparse
