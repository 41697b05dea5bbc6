// tools/common/container_checks.hpp — checks of a container that container::open (include/qamw/container.hpp) does
// not make yet, run by every tool that reads a container (`inspect`, `dequantize`, `eval`, `demo`) right after open.
// They belong in container::open; they live here until the container parser takes them over.
//
// validate_container() refuses (errc::format, naming the file and the tensor or embedded file):
//   - a tensor with an empty name, quantized ("qamw:" metadata with nothing after the prefix) or plain;
//   - a plain tensor with the same name as a quantized one (which of the two is "the" tensor would be ambiguous);
//   - a quantized tensor whose metadata lacks "source_dtype" or holds anything but "F32", "F16" or "BF16";
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

/// The dtype a quantized tensor was quantized from (validated by validate_container; throws errc::format otherwise).
inline io::dtype source_dtype(const container& c, const std::string& name) {
    const io::json* d = c.meta(name).find("source_dtype");
    auto fail = [&](const std::string& why) {
        throw error(errc::format, c.path() + ": tensor '" + name + "': " + why);
    };
    if (!d) fail("metadata has no \"source_dtype\" (expected \"F32\", \"F16\" or \"BF16\")");
    if (!d->is_string()) fail("\"source_dtype\" is not a string");
    const std::string& s = d->as_string();
    if (s == "F32") return io::dtype::f32;
    if (s == "F16") return io::dtype::f16;
    if (s == "BF16") return io::dtype::bf16;
    fail("unknown \"source_dtype\" '" + s + "' (expected \"F32\", \"F16\" or \"BF16\")");
    return io::dtype::f32;  // unreachable
}

/// Whether `f` may be written as a file inside an output directory.
inline bool plain_file_name(const std::string& f) {
    return !f.empty() && f != "." && f != ".." && f[0] != '.' && f.find('/') == std::string::npos &&
           f.find('\\') == std::string::npos && f.find('\0') == std::string::npos && f != "model.safetensors";
}

/// See the file comment. Returns (name, bytes) of every embedded file, in file order.
inline std::vector<std::pair<std::string, std::vector<std::uint8_t>>> validate_container(const container& c) {
    auto fail = [&](const std::string& why) { throw error(errc::format, c.path() + ": " + why); };
    for (const std::string& name : c.quantized_names()) {
        if (name.empty()) fail("a quantized tensor has an empty name (metadata key \"qamw:\")");
        if (c.file().find(name))
            fail("tensor '" + name + "' is stored both quantized and as a plain tensor of the same name");
        source_dtype(c, name);
    }
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
