#if Benchmark // the whole file; see the trait in Package.swift
import CTPBenchKernels
import Foundation

/// One pool's recorded tick (ctpb_bots_result.timeline) and its picture.
struct TickTimeline {
    var pool: String
    var tick: Int
    var tickNs: UInt64
    var mainLane: UInt32
    var items: [ctpb_timeline_item]

    init(pool: String, result r: ctpb_bots_result) {
        self.pool = pool
        tick = Int(r.timeline_tick)
        tickNs = r.timeline_tick_ns
        mainLane = r.timeline_main_lane
        items = r.timeline.map { Array(UnsafeBufferPointer(start: $0, count: r.timeline_count)) } ?? []
    }

    /// Lanes in display order: the tick thread first, then the others by first start.
    var lanes: [UInt32] {
        var first: [UInt32: UInt64] = [:]
        for it in items { first[it.lane] = min(first[it.lane] ?? .max, it.start_ns) }
        return first.keys.sorted { a, b in
            if a == mainLane || b == mainLane { return a == mainLane && b != mainLane }
            return first[a]! < first[b]!
        }
    }

    static let kindNames = ["EMERGENCY", "HIGH", "MEDIUM", "LOW", "zone rebuild"]
    static let kindColours = ["#d62728", "#ff7f0e", "#1f77b4", "#9aa0a6", "#2ca02c"]

    /// Every pool's tick on one time axis: one lane per thread that ran an
    /// item, each item a bar from its start to its end, coloured by class.
    static func svg(_ pools: [TickTimeline], bots: Int) -> String {
        let width = 900.0, left = 150.0, right = 20.0, laneH = 14.0, gap = 4.0, headH = 20.0, axisH = 24.0
        let span = Double(pools.map(\.tickNs).max() ?? 1)
        let scale = (width - left - right) / max(span, 1)
        var y = 8.0
        var body = ""
        for p in pools {
            body += "<text x=\"4\" y=\"\(y + 14)\" font-weight=\"bold\">\(p.pool)</text>"
            body += "<text x=\"\(left)\" y=\"\(y + 14)\" fill=\"#555\">tick \(p.tick + 1): \(String(format: "%.2f", Double(p.tickNs) / 1e6)) ms, \(p.items.count) tasks</text>"
            y += headH
            for (k, lane) in p.lanes.enumerated() {
                let label = lane == p.mainLane ? "tick thread" : "thread \(k + 1)"
                body += "<text x=\"14\" y=\"\(y + laneH - 3)\" fill=\"#333\">\(label)</text>"
                body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(width - left - right)\" height=\"\(laneH)\" fill=\"#f4f4f4\"/>"
                for it in p.items where it.lane == lane {
                    let x = left + Double(it.start_ns) * scale
                    let w = max(0.6, Double(it.end_ns &- it.start_ns) * scale)
                    let c = kindColours[min(Int(it.kind), kindColours.count - 1)]
                    body += "<rect x=\"\(String(format: "%.2f", x))\" y=\"\(y + 1)\" width=\"\(String(format: "%.2f", w))\" height=\"\(laneH - 2)\" fill=\"\(c)\"/>"
                }
                y += laneH + 2
            }
            // The tick's end.
            let xe = left + Double(p.tickNs) * scale
            body += "<line x1=\"\(xe)\" y1=\"\(y - Double(p.lanes.count) * (laneH + 2))\" x2=\"\(xe)\" y2=\"\(y)\" stroke=\"#000\" stroke-dasharray=\"2,2\"/>"
            y += gap
        }
        // Time axis, every 0.5 ms.
        let stepNs = span > 4e6 ? 1e6 : 5e5
        var t = 0.0
        while t <= span {
            let x = left + t * scale
            body += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x)\" y2=\"\(y + 4)\" stroke=\"#333\"/>"
            body += "<text x=\"\(x)\" y=\"\(y + 16)\" text-anchor=\"middle\" fill=\"#333\">\(String(format: "%.1f", t / 1e6)) ms</text>"
            t += stepNs
        }
        y += axisH
        var legend = ""
        var lx = left
        for (k, name) in kindNames.enumerated() {
            legend += "<rect x=\"\(lx)\" y=\"\(y)\" width=\"10\" height=\"10\" fill=\"\(kindColours[k])\"/>"
            legend += "<text x=\"\(lx + 14)\" y=\"\(y + 9)\" fill=\"#333\">\(name)</text>"
            lx += 120
        }
        y += 18
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(y))\" " +
            "font-family=\"sans-serif\" font-size=\"11\">" +
            "<title>One tick of the bot simulation at \(bots) bots: each thread's tasks, by class</title>" +
            body + legend + "</svg>\n"
    }
}
#endif
