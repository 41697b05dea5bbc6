// tools/common/container_checks.hpp — what the tools check of a container beyond container::open (which refuses
// malformed tensors: empty names, a plain and a quantized tensor of one name, a missing or unknown source_dtype): the
// embedded files, which `dequantize` writes into a directory and `inspect` promises to validate.
//
// validate_container() refuses (errc::format, naming the file and the embedded file):
//   - a tensor with an empty plain name;
//   - an embedded file whose name is not a plain file name ("", ".", "..", a '/' or '\\', a leading '.', or
//     "model.safetensors", which dequantize writes itself) or whose content is not valid base64.
// It returns the decoded embedded files, so that a caller that writes them has validated all of them before it writes
// anything.
#pragma once

#include <qamw/container.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qamw::tools {

/// The dtype a quantized tensor was quantized from (container::open has checked it is one of these).
inline io::dtype source_dtype(const container& c, const std::string& name) {
    const std::string& s = c.meta(name).at("source_dtype").as_string();
    return s == "F16" ? io::dtype::f16 : s == "BF16" ? io::dtype::bf16 : io::dtype::f32;
}

/// Whether `f` may be written as a file inside an output directory.
inline bool plain_file_name(const std::string& f) {
    return !f.empty() && f != "." && f != ".." && f[0] != '.' && f.find('/') == std::string::npos &&
           f.find('\\') == std::string::npos && f.find('\0') == std::string::npos && f != "model.safetensors";
}

/// See the file comment. Returns (name, bytes) of every embedded file, in file order.
inline std::vector<std::pair<std::string, std::vector<std::uint8_t>>> validate_container(const container& c) {
    auto fail = [&](const std::string& why) { throw error(errc::format, c.path() + ": " + why); };
    for (const std::string& name : c.plain_names())
        if (name.empty()) fail("a tensor has an empty name");
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> files;
    for (const std::string& f : c.embedded_files()) {
        if (!plain_file_name(f)) fail("embedded file name '" + f + "' is not a plain file name");
        auto bytes = c.embedded_file(f);  // throws errc::format naming the file on bad base64
        files.emplace_back(f, std::move(*bytes));
    }
    return files;
}

}  // namespace qamw::tools
