// tools/qamw/cmd_inspect.cpp — `qamw inspect`: what a container holds, after validating all of it.
#include "commands.hpp"

#include <qamw/container.hpp>
#include <qamw/io/json.hpp>

#include <cstdio>

namespace qamw::cli {

const command_spec inspect_spec{
    "qamw inspect FILE [--json]",
    "Validates the container FILE (header, every payload's dtype and shape, codec parameters, codebook checksums,\n"
    "embedded files) and prints its format version, codec parameters and a per-tensor summary.",
    {{"json", "", "print one JSON object"}},
    1,
    1};

int run_inspect(const args& a) {
    container c = container::open(a.positional[0]);
    std::size_t weights = 0, bytes = 0;
    io::json j = io::json::object();
    j.set("file", c.path());
    j.set("format_version", format_version);
    j.set("file_bytes", static_cast<std::int64_t>(c.file().file_size()));
    io::json& qs = j.set("quantized", io::json::array());
    for (const auto& name : c.quantized_names()) {
        const quantized_view q = c.view(name);  // validates the payload too
        weights += static_cast<std::size_t>(q.rows * q.cols());
        bytes += q.stored_bytes();
        io::json r = c.meta(name);
        r.set("name", name);
        r.set("bpw", q.bits_per_weight());
        r.set("codebook_status", "ok");
        qs.push_back(r);
    }
    j.set("plain_tensors", static_cast<std::int64_t>(c.plain_names().size()));
    j.set("bpw_quantized", weights ? 8.0 * double(bytes) / double(weights) : 0.0);
    io::json& files = j.set("embedded_files", io::json::array());
    for (const auto& f : c.embedded_files()) files.push_back(f);
    if (a.has("json")) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("%s: qamw container, format version %d, %.2f MB\n", c.path().c_str(), format_version,
                c.file().file_size() / 1e6);
    std::printf("%zu quantized tensors (%.4f bpw on average), %zu tensors stored unchanged; embedded files:",
                c.quantized_names().size(), weights ? 8.0 * double(bytes) / double(weights) : 0.0, c.plain_names().size());
    for (const auto& f : c.embedded_files()) std::printf(" %s", f.c_str());
    std::printf("\n\n%-48s %13s %3s %5s %7s %7s %s\n", "tensor", "shape", "k", "block", "bpw", "scaled", "codebook");
    for (const auto& r : j.at("quantized").items()) {
        std::string shape = std::to_string(r.at("rows").as_int()) + "x" + std::to_string(r.at("cols").as_int());
        std::printf("%-48s %13s %3lld %5lld %7.3f %7s %s (%s, checksum ok)\n", r.at("name").as_string().c_str(),
                    shape.c_str(), static_cast<long long>(r.at("bits").as_int()),
                    static_cast<long long>(r.at("block").as_int()), r.at("bpw").as_double(),
                    r.at("scaled").as_bool() ? "yes" : "no", r.at("codebook").as_string().c_str(),
                    r.at("codebook_checksum").as_string().c_str());
    }
    return 0;
}

}  // namespace qamw::cli
