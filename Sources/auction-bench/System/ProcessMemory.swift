#if canImport(Glibc)
import Glibc
#endif

/// Resident memory of a process as Linux reports it in `/proc/<pid>/status`.
enum ProcessMemory {
    /// `VmRSS` in bytes, or nil when the process or the file is not there (not Linux, process gone).
    static func residentBytes(pid: Int32) -> UInt64? {
        guard let status = readProcFile("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            // The line reads "VmRSS:   123456 kB".
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kilobytes = UInt64(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }

    static var ownPID: Int32 { getpid() }

    /// Small procfs files only; their size is reported as 0, so read until end of file.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
