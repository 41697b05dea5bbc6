// tools/qamw/cmd_dequantize.cpp — `qamw dequantize`: a container → a plain Hugging Face checkpoint directory.
//
// The directory appears complete or not at all: everything is validated first (container, source dtypes, embedded
// files), then written into a temporary sibling `OUT.tmp-<pid>-<random>` (removed on any error and, through
// tools/common/temp_registry.hpp, on SIGINT/SIGTERM/SIGHUP), then renamed to OUT. An existing OUT is refused, so two
// runs' files are never mixed and nothing is replaced.
#include "commands.hpp"
#include "common/container_checks.hpp"
#include "common/json_out.hpp"
#include "common/output_guard.hpp"
#include "common/parallel.hpp"
#include "common/temp_registry.hpp"

#include <qamw/container.hpp>
#include <qamw/detail/half.hpp>
#include <qamw/io/atomic_file.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>

#include <unistd.h>

namespace qamw::cli {

const command_spec dequantize_spec{
    "qamw dequantize IN OUT [--dtype bf16|f16|f32] [--saturate] [--threads N] [--json]",
    "Decodes every quantized tensor of the container IN and writes a plain checkpoint directory OUT (created; its\n"
    "parent must exist; OUT must not exist): OUT/model.safetensors with the original tensor names and shapes,\n"
    "quantized tensors in --dtype (default: the dtype they were quantized from), other tensors unchanged, plus the\n"
    "embedded config.json and tokenizer files, so that transformers or llama.cpp's converter can load it. The\n"
    "directory is built under a temporary name and renamed when complete. A decoded value beyond the range of the\n"
    "output dtype (|x| > 65504 for f16) is an error naming the tensor unless --saturate clamps it.",
    {{"dtype", "T", "bf16, f16 or f32 for the decoded tensors (default: their source dtype)"},
     {"saturate", "", "clamp decoded values beyond the output dtype's range to its largest finite value"},
     {"threads", "N", "worker threads (default 0 = all cores)", threads()},
     {"json", "", "print a JSON summary"}},
    2,
    2};

namespace {

std::string random_hex() {
    std::random_device rd;
    char b[17];
    std::snprintf(b, sizeof b, "%08x%08x", rd(), rd());
    return b;
}

/// Removes a temporary directory tree unless released; registered for signal cleanup while it lives (the registration
/// ends after the removal, as members are destroyed after the destructor's body).
struct temp_dir {
    std::filesystem::path path;
    bool keep = false;
    std::optional<tools::temp_registry::scoped> registered{};
    ~temp_dir() {
        if (keep) return;
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace

int run_dequantize(const args& a) {
    namespace fs = std::filesystem;
    const std::string in = a.positional[0], out = a.positional[1];
    tools::check_output("OUT", out, tools::output_kind::directory, tools::input_paths(in));
    std::error_code ec;
    if (fs::symlink_status(out, ec).type() != fs::file_type::not_found)
        throw error(errc::invalid_argument, "OUT '" + out + "': already exists; dequantize writes a new directory and "
                                            "never merges into or replaces an existing one (remove it first)");
    const int threads = static_cast<int>(a.get_int("threads", 0));
    const bool saturate = a.has("saturate");
    std::string want = a.get("dtype");
    if (!want.empty() && want != "bf16" && want != "f16" && want != "f32")
        throw error(errc::invalid_argument, "--dtype must be bf16, f16 or f32, got '" + want + "'");

    // Everything that can be refused is checked before anything is written.
    container c = container::open(in);
    const auto files = tools::validate_container(c);
    auto dtype_of = [&](const std::string& name) {
        if (want.empty()) return tools::source_dtype(c, name);
        return want == "bf16" ? io::dtype::bf16 : want == "f16" ? io::dtype::f16 : io::dtype::f32;
    };
    const std::vector<std::string>& order = c.tensor_names();
    for (const auto& name : order)
        if (c.is_quantized(name)) dtype_of(name);

    fs::path final_dir = fs::absolute(out).lexically_normal();
    if (final_dir.filename().empty()) final_dir = final_dir.parent_path();  // "OUT/"
    temp_dir tmp{final_dir.string() + ".tmp-" + std::to_string(::getpid()) + "-" + random_hex()};
    if (!fs::create_directory(tmp.path, ec) || ec)
        throw error(errc::io, "cannot create temporary directory '" + tmp.path.string() + "': " +
                                  (ec ? ec.message() : std::string("it already exists")));
    tmp.registered.emplace(tmp.path.string(), tools::temp_registry::kind::directory);

    io::safetensors_writer w((tmp.path / "model.safetensors").string(), tools::temp_registry::file_hooks());
    for (const auto& name : order) {
        if (c.is_quantized(name))
            w.add(name, dtype_of(name), {c.meta(name).at("rows").as_int(), c.meta(name).at("cols").as_int()});
        else
            w.add(name, c.file().find(name)->type, c.file().find(name)->shape);
    }
    w.begin();
    progress bar("dequantize", double(order.size()), "tensors");
    std::size_t done = 0, bytes = 0, saturated = 0;
    for (const auto& name : order) {
        if (c.is_quantized(name)) {
            std::vector<float> d = decode(c.view(name), on_threads{threads});
            for (std::size_t i = 0; i < d.size(); ++i)
                if (!std::isfinite(d[i]))
                    throw error(errc::non_finite, in + ": tensor '" + name + "' decodes to a non-finite value at element " +
                                                      std::to_string(i));
            io::dtype t = dtype_of(name);
            if (t == io::dtype::f32) {
                w.write(name, d.data(), d.size() * 4);
                bytes += d.size() * 4;
            } else {
                std::vector<std::uint16_t> h(d.size());
                const std::uint16_t inf = t == io::dtype::bf16 ? 0x7f80 : 0x7c00;
                for (std::size_t i = 0; i < d.size(); ++i) {
                    h[i] = t == io::dtype::bf16 ? detail::f32_to_bf16(d[i]) : detail::f32_to_f16(d[i]);
                    if ((h[i] & 0x7fff) != inf) continue;
                    if (!saturate)
                        throw error(errc::non_finite,
                                    in + ": tensor '" + name + "': decoded value " + std::to_string(d[i]) +
                                        " at element " + std::to_string(i) + " is beyond the range of " +
                                        io::dtype_name(t) + " (use --dtype f32, or --saturate to clamp)");
                    h[i] = static_cast<std::uint16_t>((h[i] & 0x8000) | (inf - 1));  // largest finite magnitude
                    ++saturated;
                }
                w.write(name, h.data(), h.size() * 2);
                bytes += h.size() * 2;
            }
        } else {
            io::tensor_view v = c.file().view(name);
            w.write(name, v.data, v.nbytes);
            bytes += v.nbytes;
        }
        bar.update(double(++done), double(bytes), name);
    }
    w.commit();
    for (const auto& [f, data] : files) {
        io::atomic_file af((tmp.path / f).string());
        af.write(data.data(), data.size());
        af.commit();
    }
    fs::rename(tmp.path, final_dir, ec);
    if (ec)
        throw error(errc::io, "cannot rename '" + tmp.path.string() + "' to '" + final_dir.string() + "': " +
                                  ec.message());
    tmp.keep = true;

    if (a.has("json")) {
        tools::json_out j = tools::json_out::object();
        j["input"] = in;
        j["output"] = out;
        j["tensors"] = order.size();
        j["quantized_tensors"] = c.quantized_names().size();
        j["bytes"] = bytes;
        j["saturated_values"] = saturated;
        tools::json_out& fl = (j["files"] = tools::json_out::array());
        for (const auto& f : files) fl.push_back(f.first);
        std::printf("%s\n", tools::dump_json(j).c_str());
    } else {
        std::printf("%s -> %s/model.safetensors: %zu tensors (%zu decoded), %.2f MB; copied %zu files%s\n", in.c_str(),
                    out.c_str(), order.size(), c.quantized_names().size(), bytes / 1e6, files.size(),
                    saturated ? (", " + std::to_string(saturated) + " values saturated").c_str() : "");
    }
    return 0;
}

}  // namespace qamw::cli
