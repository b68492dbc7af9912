import Foundation
import Testing

@testable import AuctionServer

@Test func statementsSplitOutsideQuotesAndComments() {
    let script = """
        -- a comment; with a semicolon
        CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
        INSERT INTO a VALUES ('it''s');  -- trailing comment
        CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
        """
    let statements = SQLScript.statements(in: script)
    #expect(statements.count == 3)
    #expect(statements[0] == "CREATE TABLE a (x TEXT DEFAULT 'semi;colon')")
    #expect(statements[1] == "INSERT INTO a VALUES ('it''s')")
    #expect(statements[2].hasPrefix("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$"))
}

@Test func theShippedMigrationsSplit() throws {
    let sql = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../sql/001_initial_schema.sql")
    let statements = SQLScript.statements(in: try String(contentsOf: sql, encoding: .utf8))
    #expect(statements.count >= 6)
    #expect(statements.allSatisfy { !$0.contains("--") })
}

@Test(arguments: [("1", Int64?.some(1)), ("9007199254740993", 9_007_199_254_740_993), ("0", nil), ("-1", nil), ("1e3", nil), ("", nil), ("abc", nil), ("99999999999999999999", nil), ("١٢", nil)])
func recordIDsAreDigitsOnly(text: String, expected: Int64?) {
    #expect(RecordID.parse(text) == expected)
}

@Test func cookiesCarryTheContractAttributes() {
    #expect(Cookies.set("session_id", "abc", maxAge: 1800, secure: false) == "session_id=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=1800")
    #expect(Cookies.set("access_token", "t", maxAge: nil, secure: true) == "access_token=t; Path=/; HttpOnly; SameSite=Strict; Secure")
    #expect(Cookies.clear("access_token", secure: false).contains("Max-Age=0"))
}

@Test func sessionTokensHave256Bits() {
    let token = SessionToken.make()
    #expect(token.count == 64)
    #expect(SessionToken.isWellFormed(token))
    #expect(token != SessionToken.make())
    #expect(!SessionToken.isWellFormed("../../etc"))
}
