// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "ctp",
    products: [
        .library(name: "CThreadPool", targets: ["CThreadPool"]),
        .library(name: "ThreadPoolSwift", targets: ["ThreadPoolSwift"]),
        .executable(name: "threadpool-bench", targets: ["ThreadPoolBench"]),
    ],
    // The benchmark's dependencies are needed only with the "Benchmark"
    // trait, which is off by default: a package that depends on ctp for
    // ThreadPoolSwift does not resolve or fetch them (measured: its
    // Package.resolved then has no pins at all; with the trait on by default
    // it pinned and checked out all three, swift-numerics included). So the
    // trait is not a default one even for this package: build the benchmark
    // with `swift build -c release --traits Benchmark` (scripts/bench.sh
    // does). Without the trait, threadpool-bench builds as a stub that says
    // how to build it.
    traits: [
        .trait(name: "Benchmark",
               description: "Builds threadpool-bench for real, with swift-argument-parser and hdrhistogram-swift"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // The C runtime. Its one public header lives at the repository root,
        // include/ctp/ctp.h, shared with CMake and pkg-config users.
        // libnuma, for topology and node-bound memory.
        .systemLibrary(
            name: "CNuma",
            path: "Sources/CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        .target(
            name: "CThreadPool",
            dependencies: ["CNuma"],
            path: ".",
            sources: ["Sources/CThreadPool"],
            publicHeadersPath: "include",
            cSettings: [.define("CTP_HAVE_LIBNUMA")]
        ),
        // The Swift API over the C runtime.
        .target(
            name: "ThreadPoolSwift",
            dependencies: ["CThreadPool"],
            path: "Sources/ThreadPoolSwift"
        ),
        .testTarget(
            name: "ThreadPoolSwiftTests",
            dependencies: ["ThreadPoolSwift", "CThreadPool"],
            path: "Tests/ThreadPoolSwiftTests"
        ),
        // Benchmark kernels in C, so that they measure the runtime.
        .target(
            name: "CTPBenchKernels",
            dependencies: ["CThreadPool"],
            path: "Sources/CTPBenchKernels"
        ),
        // Peers of the bot benchmark that need their own compiler flags:
        // OpenMP (clang -fopenmp with LLVM's libomp, Debian libomp-dev) and
        // oneTBB (C++, Debian libtbb-dev).
        .target(
            name: "CTPBenchOpenMP",
            dependencies: ["CTPBenchKernels"],
            path: "Sources/CTPBenchOpenMP",
            cSettings: [.unsafeFlags(["-fopenmp"])],
            linkerSettings: [.linkedLibrary("omp5")]
        ),
        .target(
            name: "CTPBenchTBB",
            dependencies: ["CTPBenchKernels"],
            path: "Sources/CTPBenchTBB",
            linkerSettings: [.linkedLibrary("tbb")]
        ),
        .executableTarget(
            name: "ThreadPoolBench",
            dependencies: [
                "CThreadPool",
                "CTPBenchKernels",
                "CTPBenchOpenMP",
                "CTPBenchTBB",
                "ThreadPoolSwift",
                .product(name: "ArgumentParser", package: "swift-argument-parser",
                         condition: .when(traits: ["Benchmark"])),
                .product(name: "Histogram", package: "hdrhistogram-swift",
                         condition: .when(traits: ["Benchmark"])),
            ],
            path: "Sources/ThreadPoolBench"
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11,
    cxxLanguageStandard: .cxx17
)
