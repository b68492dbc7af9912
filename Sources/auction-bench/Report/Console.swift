#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Human output. Flushed per line so progress appears as it happens even when stdout is a pipe
/// into `tee` or a log file, where stdio would otherwise buffer whole blocks.
enum Console {
    static func line(_ text: String) {
        print(text)
        // `fflush(nil)` flushes every stream without touching the `stdout` global, which Swift 6 rejects.
        fflush(nil)
    }
}
