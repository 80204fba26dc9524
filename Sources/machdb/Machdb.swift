import ArgumentParser

@main
struct Machdb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "machdb",
        abstract: "An HTTP/JSON document store that scales itself from one process to a replicated cluster.",
        subcommands: [Serve.self, Ctl.self, Operator.self]
    )

    /// Entry point: fills flags from `MACHDB_*` variables and `--config` before parsing
    /// (command line > environment > config file > defaults).
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(try ConfigSources.expand(arguments))
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
