import Foundation
import JSON

/// Flags from the environment (`MACHDB_<FLAG>`, e.g. `MACHDB_NODE_ID`) and from a JSON config
/// file (`--config machdb.json`: `{"node-id": "n1", "listen": "127.0.0.1:7001", ...}`), appended
/// to the command line for every `serve` flag the command line does not already set.
enum ConfigSources {
    static func expand(_ arguments: [String]) throws -> [String] {
        if arguments.first == "ctl" { return ctlOptionsAfterSubcommand(arguments) }
        guard arguments.first == "serve" else { return arguments }
        var result = arguments
        func present(_ flag: String) -> Bool {
            result.contains { $0 == "--\(flag)" || $0.hasPrefix("--\(flag)=") }
        }
        let environment = ProcessInfo.processInfo.environment
        for flag in Serve.valueFlags where !present(flag) {
            let variable = "MACHDB_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable], !value.isEmpty { result += ["--\(flag)", value] }
        }
        guard let configPath = value(of: "config", in: result) else { return result }
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw ConfigFileError(message: "cannot read config file \(configPath)")
        }
        let config: JSON
        do { config = try JSON.parse(Array(data)) } catch { throw ConfigFileError(message: "config file \(configPath): \(error)") }
        guard config.kind == .object else { throw ConfigFileError(message: "config file \(configPath) must hold a JSON object") }
        for (key, value) in config.members {
            guard Serve.valueFlags.contains(key), key != "config" else {
                throw ConfigFileError(message: "config file \(configPath): unknown setting \(key)")
            }
            if present(key) { continue }
            switch value.kind {
            case .string: result += ["--\(key)", value.stringValue!]
            case .integer, .real: result += ["--\(key)", value.text]
            default: throw ConfigFileError(message: "config file \(configPath): \(key) must be a string or a number")
            }
        }
        return result
    }

    /// `machdb ctl --url U cluster` (DESIGN §10) → `machdb ctl cluster --url U`: connection
    /// options may come before the subcommand name too.
    static func ctlOptionsAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 1
        while index < arguments.count, arguments[index].hasPrefix("--") {
            let argument = arguments[index]
            leading.append(argument)
            if !argument.contains("="), ["--url", "--admin-token"].contains(argument), index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        guard index < arguments.count, !leading.isEmpty else { return arguments }
        return ["ctl", arguments[index]] + leading + arguments[(index + 1)...]
    }

    private static func value(of flag: String, in arguments: [String]) -> String? {
        for (i, argument) in arguments.enumerated() {
            if argument == "--\(flag)", i + 1 < arguments.count { return arguments[i + 1] }
            if argument.hasPrefix("--\(flag)=") { return String(argument.dropFirst(flag.count + 3)) }
        }
        return nil
    }
}

struct ConfigFileError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
