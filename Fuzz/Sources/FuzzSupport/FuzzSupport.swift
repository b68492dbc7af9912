#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A check that must hold for every input. A broken one aborts, which libFuzzer reports as a
/// crash and saves the input for, exactly like a trap in the code under test.
public func require(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    guard !condition() else { return }
    printError("invariant broken at \(file):\(line): \(message())")
    abort()
}

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`.
public func fuzzInput(_ data: UnsafeRawPointer, _ count: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: data, count: count))
}

/// A stream cut into pieces of 1 to 17 bytes, the sizes drawn from `seed` (a byte of the input),
/// so that the same input always gives the same pieces.
public func pieces(of bytes: [UInt8], seed: UInt8) -> [ArraySlice<UInt8>] {
    var state = UInt32(seed) &* 2_654_435_761 | 1
    var result: [ArraySlice<UInt8>] = []
    var start = 0
    while start < bytes.count {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let end = min(bytes.count, start + 1 + Int(state % 17))
        result.append(bytes[start..<end])
        start = end
    }
    return result
}

/// Bytes written as hex digits; spaces are ignored, as in the test vectors.
public func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.utf8.filter { $0 != UInt8(ascii: " ") }.map { byte -> UInt8 in
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: preconditionFailure("not a hex digit in \(text)")
        }
    }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
}

/// The starting corpus of a target: the byte examples of the unit tests. `scripts/fuzz.sh` runs
/// each target once with `FUZZ_SEED_DIR` set to write them there, one file each, and exit.
public enum Seeds {
    /// Call from `LLVMFuzzerInitialize`; returns its result (0) when not asked to write seeds.
    public static func writeIfAsked(_ seeds: [[UInt8]]) -> CInt {
        guard let directory = getenv("FUZZ_SEED_DIR").map({ String(cString: $0) }) else { return 0 }
        for (index, seed) in seeds.enumerated() {
            let path = directory + "/seed-" + String(index)
            guard let file = fopen(path, "wb") else {
                printError("cannot write \(path)")
                exit(1)
            }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
        exit(0)
    }
}

/// A line on standard error (the `stderr` global is shared mutable state to Swift 6).
public func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
