// tools/common/output_guard.hpp — the one check every `qamw` command runs on each path it is about to write, before it
// reads or writes anything else.
//
// Rules (each refusal is errc::invalid_argument "<option> '<path>': <rule>"):
//   1. An existing output must be what the command writes: a regular file for file outputs (quantize OUT, stats --out,
//      eval --save-base), a directory for directory outputs. Device nodes, FIFOs and sockets are refused, never
//      replaced by a regular file (the atomic rename would otherwise swap /dev/null or a FIFO for a file); symbolic
//      links are judged by what they point to.
//   2. An output must not be any input of the same command: inputs and the output are compared by device and inode
//      (after following links), so a second name of the same file (hard link, symlink, "./x", "dir/../x") is caught.
//   3. A directory output must not contain any input: the parents of every input's real path are compared with the
//      output, again by device and inode.
// Inputs are expanded by input_paths(): a directory argument stands for itself and every entry directly inside it (a
// checkpoint directory's shards, index, config and tokenizer files).
#pragma once

#include <qamw/error.hpp>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>

namespace qamw::tools {

enum class output_kind { file, directory };

namespace guard_detail {
inline const char* file_type_name(mode_t m) {
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "a special file";
}
inline bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }
}  // namespace guard_detail

/// The paths a command reads for an input argument: the path itself and, for a directory, its direct entries.
inline std::vector<std::string> input_paths(const std::string& arg) {
    std::vector<std::string> out{arg};
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec))
        for (const auto& e : std::filesystem::directory_iterator(arg, ec)) out.push_back(e.path().string());
    return out;
}

/// Throws errc::invalid_argument "<option> '<path>': ..." unless `path` is an existing regular file (links followed):
/// a directory, a missing file or a device given where a file is read is refused up front, naming the option.
inline void require_input_file(const std::string& option, const std::string& path) {
    struct stat s {};
    if (path.empty()) throw error(errc::invalid_argument, option + ": empty path");
    if (::stat(path.c_str(), &s) != 0)
        throw error(errc::invalid_argument, option + " '" + path + "': no such file");
    if (!S_ISREG(s.st_mode))
        throw error(errc::invalid_argument, option + " '" + path + "': is " + guard_detail::file_type_name(s.st_mode) +
                                                ", expected a regular file");
}

/// Throws unless writing `out` (named `option` in messages, e.g. "OUT" or "--save-base") is allowed by the rules of the
/// file comment, given every path the command reads.
inline void check_output(const std::string& option, const std::string& out, output_kind kind,
                         const std::vector<std::string>& inputs) {
    auto refuse = [&](const std::string& rule) {
        throw error(errc::invalid_argument, option + " '" + out + "': " + rule);
    };
    if (out.empty()) refuse("empty path");
    struct stat o {};
    if (::stat(out.c_str(), &o) != 0) {
        // Does not exist (or a dangling link): nothing to overwrite, nothing inside. Its parent must be a directory.
        std::filesystem::path parent = std::filesystem::absolute(out).parent_path();
        std::error_code ec;
        if (!std::filesystem::is_directory(parent, ec))
            refuse("its parent directory '" + parent.string() + "' does not exist");
        return;
    }
    if (kind == output_kind::file && !S_ISREG(o.st_mode))
        refuse(std::string("is ") + guard_detail::file_type_name(o.st_mode) +
               "; outputs are written as new regular files and never replace anything else");
    if (kind == output_kind::directory && !S_ISDIR(o.st_mode))
        refuse(std::string("is ") + guard_detail::file_type_name(o.st_mode) + ", not a directory");
    for (const std::string& in : inputs) {
        struct stat i {};
        if (::stat(in.c_str(), &i) != 0) continue;  // the command reports missing inputs itself
        if (guard_detail::same_file(o, i))
            refuse("is the input '" + in + "' of this command; an output must never overwrite an input");
        if (kind != output_kind::directory) continue;
        std::error_code ec;
        std::filesystem::path p = std::filesystem::canonical(in, ec);
        if (ec) continue;
        for (p = p.parent_path();; p = p.parent_path()) {
            struct stat d {};
            if (::stat(p.c_str(), &d) == 0 && guard_detail::same_file(o, d))
                refuse("contains the input '" + in + "' of this command; an output directory must not hold an input");
            if (p == p.root_path() || p.empty()) break;
        }
    }
}

}  // namespace qamw::tools
