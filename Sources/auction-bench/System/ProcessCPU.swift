#if canImport(Glibc)
import Glibc
#endif

/// CPU time a process has used, as Linux reports it in `/proc/<pid>/stat` (user and system time
/// in clock ticks, fields 14 and 15).
struct ProcessCPU: Sendable, Equatable {
    var userSeconds: Double
    var systemSeconds: Double

    static func - (lhs: ProcessCPU, rhs: ProcessCPU) -> ProcessCPU {
        ProcessCPU(userSeconds: lhs.userSeconds - rhs.userSeconds, systemSeconds: lhs.systemSeconds - rhs.systemSeconds)
    }

    static let zero = ProcessCPU(userSeconds: 0, systemSeconds: 0)

    /// The process's CPU time so far, or nil when it is not there (not Linux, process gone).
    static func of(pid: Int32) -> ProcessCPU? {
        guard let stat = ProcessMemory.readProcFile("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces: fields count from after
        // its last ")", where field 3 (the state) comes first.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessCPU(userSeconds: user / ticks, systemSeconds: system / ticks)
    }
}
