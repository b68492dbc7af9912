import Foundation
import Testing

@testable import AuctionServer

/// A release layout in a fresh temporary folder: `bin/auction` and `files` (a trailing `/` is a folder).
private func layout(_ files: [String]) throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("shipped-\(UUID().uuidString)")
    for file in files + ["bin/auction"] {
        let url = root.appendingPathComponent(file)
        let isFolder = file.hasSuffix("/")
        try FileManager.default.createDirectory(at: isFolder ? url : url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !isFolder { try Data("x".utf8).write(to: url) }
    }
    return root
}

private let webFiles = ["web/index.html", "web/item.html", "web/static/"]

@Test func theFoldersAboveTheExecutableAreFoundWithoutTheWorkingDirectory() throws {
    let root = try layout(["sql/001_a.sql"] + webFiles)
    defer { try? FileManager.default.removeItem(at: root) }
    let executable = root.appendingPathComponent("bin/auction")
    #expect(try ShippedFolder.migrations.locate(environment: [:], executable: executable).path == root.appendingPathComponent("sql").path)
    #expect(try ShippedFolder.web.locate(environment: [:], executable: executable).path == root.appendingPathComponent("web").path)
}

@Test func anInstallPrefixIsFoundThroughShareAuction() throws {
    let root = try layout(["share/auction/sql/001_a.sql"])
    defer { try? FileManager.default.removeItem(at: root) }
    let found = try ShippedFolder.migrations.locate(environment: [:], executable: root.appendingPathComponent("bin/auction"))
    #expect(found.path == root.appendingPathComponent("share/auction/sql").path)
}

@Test func theFlagWinsOverTheVariableWhichWinsOverTheSearch() throws {
    let root = try layout(["sql/001_a.sql", "flag/002_b.sql", "variable/003_c.sql"])
    defer { try? FileManager.default.removeItem(at: root) }
    let executable = root.appendingPathComponent("bin/auction")
    let environment = ["AUCTION_SQL_DIR": root.appendingPathComponent("variable").path]
    let flag = ("--directory", root.appendingPathComponent("flag").path)
    #expect(try ShippedFolder.migrations.locate(flag: flag, environment: environment, executable: executable).lastPathComponent == "flag")
    #expect(try ShippedFolder.migrations.locate(environment: environment, executable: executable).lastPathComponent == "variable")
}

@Test func anUnusableFolderIsOneLineNamingItAndTheFix() throws {
    let root = try layout(["sql/README", "web/index.html", "web/static/"])
    defer { try? FileManager.default.removeItem(at: root) }
    let executable = root.appendingPathComponent("bin/auction")
    let noMigrations = #expect(throws: ConfigurationError.self) { try ShippedFolder.migrations.locate(environment: [:], executable: executable) }
    #expect(noMigrations?.description.contains("has no NNN_*.sql file") == true)
    #expect(noMigrations?.description.contains("AUCTION_SQL_DIR") == true)
    let noRoom = #expect(throws: ConfigurationError.self) { try ShippedFolder.web.locate(environment: [:], executable: executable) }
    #expect(noRoom?.description.contains("item.html: no such file") == true)
    for error in [noMigrations, noRoom] { #expect(error?.description.contains("\n") == false) }
}

@Test func nothingFoundNamesTheExecutableAndTheVariable() throws {
    let root = try layout([])
    defer { try? FileManager.default.removeItem(at: root) }
    let executable = root.appendingPathComponent("bin/auction")
    let error = #expect(throws: ConfigurationError.self) { try ShippedFolder.web.locate(environment: [:], executable: executable) }
    #expect(error?.description.contains("cannot find the web pages folder") == true)
    #expect(error?.description.contains(executable.path) == true)
    #expect(error?.description.contains("AUCTION_WEB_DIR") == true)
}
