// qamw/error.hpp — the one exception type of qamw.
//
// Every public function validates its arguments at the boundary and throws qamw::error with a code and a message that
// names the offending parameter, tensor, row/column or file and the rule it broke. Kernels behind the boundary do not
// fail.
#pragma once

#include <stdexcept>
#include <string>

namespace qamw {

/// What kind of rule an input broke.
enum class errc {
    invalid_argument,  ///< a parameter outside its documented range (k, block size, shape, ...)
    non_finite,        ///< a NaN or Inf value in the input weights or scales
    format,            ///< a file or payload that does not follow its format (truncated, malformed, inconsistent)
    unsupported,       ///< a well-formed input this version does not handle (unknown format version, dtype)
    io,                ///< the operating system refused a file operation
};

inline const char* to_string(errc c) noexcept {
    switch (c) {
        case errc::invalid_argument: return "invalid argument";
        case errc::non_finite: return "non-finite value";
        case errc::format: return "format error";
        case errc::unsupported: return "unsupported";
        case errc::io: return "i/o error";
    }
    return "error";
}

class error : public std::runtime_error {
public:
    error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

}  // namespace qamw
