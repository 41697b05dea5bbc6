# Conan 2 recipe for qamw: the header-only library (component qamw), the runtime-dispatch kernels (dispatch) and the
# C interface (c). `conan create .` builds with the project's own CMake (tests, tools, benchmarks and examples off),
# installs, and runs test_package/. No Conan client runs on the project's machines: CI checks that this file compiles
# and builds test_package/ as a plain CMake consumer of the installed package (tests/consumers/CMakeLists.txt).
from conan import ConanFile
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy


class QamwConan(ConanFile):
    name = "qamw"
    version = "0.1.0"
    license = "see the repository"
    description = "QAM-W: 2D Lloyd-Max weight codec for LLMs (header-only C++17, xsimd kernels)"
    topics = ("llm", "quantization", "simd")
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "CMakeLists.txt", "cmake/*", "include/*", "src/*", "docs/FORMAT.md"

    def requirements(self):
        self.requires("xsimd/8.1.0", transitive_headers=True)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        CMakeDeps(self).generate()
        tc = CMakeToolchain(self)
        for option in ("TESTS", "BENCH", "EXAMPLES", "TOOLS"):
            tc.variables[f"QAMW_BUILD_{option}"] = False
        tc.variables["QAMW_INSTALL"] = True
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        CMake(self).install()
        copy(self, "FORMAT.md", src=f"{self.source_folder}/docs", dst=f"{self.package_folder}/share/doc/qamw")

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "qamw")
        core = self.cpp_info.components["qamw"]
        core.set_property("cmake_target_name", "qamw::qamw")
        core.requires = ["xsimd::xsimd"]
        core.libs = []
        dispatch = self.cpp_info.components["dispatch"]
        dispatch.set_property("cmake_target_name", "qamw::dispatch")
        dispatch.libs = ["qamw_dispatch"]
        dispatch.defines = ["QAMW_DISPATCH=1"]
        dispatch.requires = ["qamw"]
        c = self.cpp_info.components["c"]
        c.set_property("cmake_target_name", "qamw::c")
        c.libs = ["qamw_c"]
        c.requires = ["dispatch"]
