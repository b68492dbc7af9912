import Foundation

/// A folder the service ships beside its executable: the migrations (`sql/`) and the browser
/// pages (`web/`). Found the same way wherever the service is started from; the working
/// directory plays no part:
///
/// 1. the override, taken as it is: `--directory` (migrate only), else `AUCTION_SQL_DIR` /
///    `AUCTION_WEB_DIR`;
/// 2. else, walking up from the executable's folder (symlinks followed) to `/`, the first
///    `<folder>/sql` or `<folder>/share/auction/sql` that exists: beside a copied binary
///    (`/app/auction` → `/app/sql`), in the checkout a build came from (`.build/debug/auction`
///    → `sql/`), or an FHS install (`/usr/local/bin/auction` → `/usr/local/share/auction/sql`).
///
/// The folder found must hold what the service reads from it, so a wrong one is refused at
/// start-up with one line rather than at the first request.
public enum ShippedFolder: String, Sendable, CaseIterable {
    case migrations = "sql"
    case web = "web"

    /// The environment variable that overrides the search.
    public var variable: String {
        switch self {
        case .migrations: "AUCTION_SQL_DIR"
        case .web: "AUCTION_WEB_DIR"
        }
    }

    var what: String {
        switch self {
        case .migrations: "migrations folder (NNN_*.sql)"
        case .web: "web pages folder (index.html, item.html, static/)"
        }
    }

    /// The folder: `flag` if given, else the variable's value, else the first one found up from
    /// `executable`.
    public func locate(
        flag: (name: String, value: String)? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: URL? = ShippedFolder.executable()
    ) throws(ConfigurationError) -> URL {
        let fix = "point \(variable) at the \(what)"
        if let flag {
            return try checked(URL(fileURLWithPath: flag.value).standardizedFileURL, named: "\(flag.name) \(flag.value)", fix: "pass the \(what)")
        }
        if let value = environment[variable], !value.isEmpty {
            return try checked(URL(fileURLWithPath: value).standardizedFileURL, named: "\(variable)=\(value)", fix: fix)
        }
        guard let executable else {
            throw ConfigurationError(description: "cannot find the \(what): the executable's own path is unknown; \(fix)")
        }
        var folder = executable.deletingLastPathComponent()
        while true {
            for candidate in [folder.appendingPathComponent(rawValue), folder.appendingPathComponent("share/auction/\(rawValue)")]
            where FileManager.default.fileExists(atPath: candidate.path) {
                return try checked(candidate, named: candidate.path, fix: "fix it, or \(fix)")
            }
            if folder.path == "/" || folder.path.isEmpty { break }
            folder = folder.deletingLastPathComponent()
        }
        throw ConfigurationError(
            description: "cannot find the \(what): no \(rawValue)/ (nor share/auction/\(rawValue)/) beside \(executable.path) or in a folder above it; \(fix)"
        )
    }

    /// `folder` when it holds what the service reads; else why not, and `fix`.
    func checked(_ folder: URL, named name: String, fix: String) throws(ConfigurationError) -> URL {
        if let problem = problem(in: folder) {
            throw ConfigurationError(description: "\(name) is not a usable \(what): \(problem); \(fix)")
        }
        return folder
    }

    /// What is wrong with `folder` as this kind of folder, or nil.
    func problem(in folder: URL) -> String? {
        if let problem = Self.problem(reading: folder, folder: true) { return problem }
        switch self {
        case .migrations:
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return "it cannot be listed" }
            return names.contains(where: Migrator.isMigration) ? nil : "it has no NNN_*.sql file"
        case .web:
            for name in ["index.html", "item.html", "static"] {
                if let problem = Self.problem(reading: folder.appendingPathComponent(name), folder: name == "static") {
                    return "\(name): \(problem)"
                }
            }
            return nil
        }
    }

    /// Why the service cannot read `url` (a folder it lists, or a file), or nil.
    static func problem(reading url: URL, folder: Bool) -> String? {
        var isFolder: ObjCBool = false
        let files = FileManager.default
        guard files.fileExists(atPath: url.path, isDirectory: &isFolder) else { return "no such \(folder ? "folder" : "file")" }
        if isFolder.boolValue != folder { return folder ? "not a folder" : "a folder, not a file" }
        let readable = files.isReadableFile(atPath: url.path) && (!folder || files.isExecutableFile(atPath: url.path))
        return readable ? nil : "permission denied"
    }

    /// The running executable's real path (symlinks followed), when the system says it.
    public static func executable() -> URL? {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        #endif
        return Bundle.main.executableURL?.resolvingSymlinksInPath()
    }
}
