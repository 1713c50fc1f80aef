#if Benchmark // the whole file; see the trait in Package.swift
import Foundation

/// Everything one `bots` run measured: the JSON document and the Markdown report.
struct BotReport: Codable {
    var date: String
    var machine: String
    var command: String
    var mode: String
    var workers: Int
    var ticks: Int          // measured per pool in each repetition
    var warmup: Int
    var repetitions: Int
    var block: Int          // ticks per turn when the pools take turns
    var zones: Int
    var topology: String?
    var peers: [String]
    var runs: [BotRun]
    var failures: [String]

    func writeMarkdown(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        let stem = url.deletingPathExtension().lastPathComponent
        var md = "# threadpool-bench bots\n\n"
        md += "- date: \(date)\n- machine: \(machine)\n- command: `\(command)`\n- mode: \(mode), \(repetitions) repetitions of \(ticks) measured ticks per pool after \(warmup) warm-up, pools taking turns in blocks of \(block) ticks, \(zones) zones, \(workers) workers"
        md += topology.map { ", topology `\($0)`" } ?? ""
        md += "\n\nPools:\n\n" + peers.map { "- \($0)" }.joined(separator: "\n") + "\n"
        let sizes = runs.map(\.bots).reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
        for n in sizes {
            let group = runs.filter { $0.bots == n }
            md += "\n## \(n) bots\n\n```\n" + BotTables.render(group, flatOut: group.first?.flatOut ?? false) + "```\n\n"
            let svgName = "\(stem)-ticks-\(n).svg"
            try tickChart(group).write(to: dir.appendingPathComponent(svgName), atomically: true, encoding: .utf8)
            md += "![tick time distribution, \(n) bots](\(svgName))\n"
        }
        if !failures.isEmpty {
            md += "\n## Failures\n\n" + failures.map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        try md.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Tick-time distribution per pool on a log axis: a bar from p50 to p99,
    /// a line on to the max, every tick as a faint dot, and the pool's ideal
    /// tick (p50) as a black mark.
    func tickChart(_ group: [BotRun]) -> String {
        let rowH = 28.0, left = 130.0, width = 760.0, plotW = width - left - 20, top = 40.0
        let height = top + Double(group.count) * rowH + 40
        let all = (group.flatMap(\.tickSamplesMs) + group.map { $0.ideal.p50 / 1000 }).filter { $0 > 0 }
        let lo = pow(10, floor(log10(max(all.min() ?? 0.1, 0.01))))
        let hi = pow(10, ceil(log10(max(all.max() ?? 100, 60))))
        func x(_ v: Double) -> Double { left + (log10(max(v, lo)) - log10(lo)) / (log10(hi) - log10(lo)) * plotW }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">Tick time, \(group.first?.bots ?? 0) bots (ms, log scale; bar p50 to p99, line to max, black mark: ideal p50)</text>\n"
        var d = lo
        while d <= hi * 1.0001 {
            let xv = x(d)
            s += "<line x1=\"\(xv)\" y1=\"\(top - 5)\" x2=\"\(xv)\" y2=\"\(height - 30)\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(xv)\" y=\"\(height - 14)\" text-anchor=\"middle\">\(d < 1 ? String(d) : String(Int(d)))</text>\n"
            d *= 10
        }
        let budget = x(50)
        s += "<line x1=\"\(budget)\" y1=\"\(top - 5)\" x2=\"\(budget)\" y2=\"\(height - 30)\" stroke=\"#c00\" stroke-dasharray=\"4 3\"/>\n"
        s += "<text x=\"\(budget + 3)\" y=\"\(top - 8)\" fill=\"#c00\">50 ms budget</text>\n"
        for (i, r) in group.enumerated() {
            let y = top + Double(i) * rowH + rowH / 2
            let color = r.pool.hasPrefix("ctp") ? "#1f6fb2" : "#888"
            s += "<text x=\"\(left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(r.pool)</text>\n"
            for v in r.tickSamplesMs where v > 0 {
                s += "<circle cx=\"\(x(v))\" cy=\"\(y)\" r=\"1.5\" fill=\"\(color)\" fill-opacity=\"0.25\"/>\n"
            }
            let p50 = r.tick.p50 / 1000, p99 = r.tick.p99 / 1000, mx = r.tick.max / 1000
            s += "<line x1=\"\(x(p99))\" y1=\"\(y)\" x2=\"\(x(mx))\" y2=\"\(y)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += "<rect x=\"\(x(p50))\" y=\"\(y - 7)\" width=\"\(max(x(p99) - x(p50), 2))\" height=\"14\" fill=\"\(color)\" fill-opacity=\"0.7\"/>\n"
            let ideal = x(r.ideal.p50 / 1000)
            s += "<line x1=\"\(ideal)\" y1=\"\(y - 10)\" x2=\"\(ideal)\" y2=\"\(y + 10)\" stroke=\"black\" stroke-width=\"2\"/>\n"
        }
        return s + "</svg>\n"
    }
}
#endif
