/// A run that could not produce a result (as opposed to a bad command line, which prints usage).
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}
