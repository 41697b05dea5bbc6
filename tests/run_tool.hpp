// tests/run_tool.hpp — runs the built `qamw` tool (QAMW_EXE) through the shell for the CLI tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace qamw::test {

struct result {
    int status;  ///< exit code, or 128 + signal
    std::string out;
};

inline std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Runs `qamw ARGS` through the shell (stdout and stderr together).
inline result run(const std::string& args, const std::string& env = "") {
#ifndef QAMW_EXE
    FAIL("QAMW_EXE is not defined (the tool is not built)");
    return {};
#else
    std::string cmd = env + (env.empty() ? "" : " ") + quote(QAMW_EXE) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int st = ::pclose(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return {code, out};
#endif
}

}  // namespace qamw::test
